import { Code, ConnectError } from "@connectrpc/connect";

/** An ETag was given and does not match the stored one (first-write-wins lost). */
export class EtagMismatchError extends Error {
  override readonly name = "EtagMismatchError";
}

/** An ETag is not of the form the store uses. */
export class EtagInvalidError extends Error {
  override readonly name = "EtagInvalidError";
}

/** The backend (store, broker, sidecar) could not be reached or failed; safe to retry. */
export class BackendUnavailableError extends Error {
  override readonly name = "BackendUnavailableError";
}

/** The gateway is shutting down or not yet ready. */
export class NotReadyError extends Error {
  override readonly name = "NotReadyError";
}

/**
 * The one error boundary: handlers throw ConnectErrors with deliberate codes; everything else
 * is mapped here. Causes of internal errors are logged by the caller, never sent to the client.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof EtagMismatchError) return new ConnectError(err.message, Code.Aborted);
  if (err instanceof EtagInvalidError) return new ConnectError(err.message, Code.InvalidArgument);
  if (err instanceof BackendUnavailableError || err instanceof NotReadyError) {
    return new ConnectError(err.message, Code.Unavailable);
  }
  if (err instanceof Error && err.name === "AbortError") {
    return new ConnectError("the call was cancelled", Code.Canceled);
  }
  return new ConnectError("internal error", Code.Internal);
}
