/**
 * The topic grammar of CONTRACT.md: 1..255 characters of dot-separated tokens, each [a-z0-9_-]+;
 * the scenario id token of the scenario lane (`sc.<scenarioId>....`) may also be `LIVE`.
 * Returns why a topic is malformed, or undefined when it is well formed.
 */
export const MAX_TOPIC_LENGTH = 255;
export const STATE_CHANGES_TOPIC = "state-changes";

const TOKEN = /^[a-z0-9_-]+$/;

export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return "topic is empty";
  if (topic.length > MAX_TOPIC_LENGTH) {
    return `topic is ${topic.length} characters long; the limit is ${MAX_TOPIC_LENGTH}`;
  }
  const tokens = topic.split(".");
  for (const [i, token] of tokens.entries()) {
    if (token === "") return `topic "${topic}" has an empty token (leading, trailing or double dot)`;
    if (i === 1 && tokens[0] === "sc" && token === "LIVE") continue;
    if (!TOKEN.test(token)) {
      return `topic token "${token}" may hold only lower-case letters, digits, "_" and "-" (no wildcards, spaces or upper case)`;
    }
  }
  return undefined;
}
