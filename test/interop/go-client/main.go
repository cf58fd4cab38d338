// virtufin-go-client: a generic grpc-go client driven by JSON lines, for interoperability tests.
//
//	virtufin-go-client -descriptors image.binpb -target 127.0.0.1:5002
//
// It loads the API from a FileDescriptorSet (`buf build -o image.binpb`) at run time and builds
// messages with dynamicpb, so no Go code is generated. It reads one command per line on stdin and
// answers each with one JSON line on stdout, in order, over one ClientConn (HTTP/2 cleartext):
//
//	{"op":"unary","method":"virtufin.api.v1.State/GetState","request":{...},"metadata":{...},"timeoutMs":N}
//	{"op":"open","stream":"s1","method":"virtufin.api.v1.Gateway/Subscribe","request":{...},...}
//	    answers once the response headers arrived (or the stream ended before them)
//	{"op":"recv","stream":"s1","count":N,"waitMs":N}  up to N messages, or the stream's end
//	{"op":"cancel","stream":"s1"}                     cancels and reports how the stream ended
//
// timeoutMs sets the call's deadline (sent as grpc-timeout). With localGraceMs the client itself
// gives up only that long after the deadline it sent (as CANCELED), so a DEADLINE_EXCEEDED that
// arrives first can only be the server's. Codes are gRPC's numbers, with Go's names beside them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

type command struct {
	Op           string            `json:"op"`
	Stream       string            `json:"stream"`
	Method       string            `json:"method"`
	Request      json.RawMessage   `json:"request"`
	Metadata     map[string]string `json:"metadata"`
	TimeoutMs    int               `json:"timeoutMs"`
	LocalGraceMs int               `json:"localGraceMs"`
	Count        int               `json:"count"`
	WaitMs       int               `json:"waitMs"`
}

type result struct {
	Op       string              `json:"op"`
	Code     int                 `json:"code"`
	Status   string              `json:"status"`
	Message  string              `json:"message,omitempty"`
	Response json.RawMessage     `json:"response,omitempty"`
	Messages []json.RawMessage   `json:"messages,omitempty"`
	Ended    bool                `json:"ended"`
	Headers  map[string][]string `json:"headers,omitempty"`
	Trailers map[string][]string `json:"trailers,omitempty"`
}

// advertisedDeadline reports a deadline (which grpc-go sends as grpc-timeout) while its Done
// channel is its parent's, which fires later: the server's deadline is tested, not the client's.
type advertisedDeadline struct {
	context.Context
	deadline time.Time
}

func (c advertisedDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// openStream is a server stream being read by its own goroutine into `events`.
type openStream struct {
	cancel context.CancelFunc
	events chan any // json.RawMessage per message, then one final error (io.EOF on OK)
	ended  bool
}

var (
	conn    *grpc.ClientConn
	files   *protoregistry.Files
	streams = map[string]*openStream{}
)

func main() {
	descriptors := flag.String("descriptors", "", "a FileDescriptorSet, e.g. from `buf build -o image.binpb`")
	target := flag.String("target", "", "host:port of the gateway")
	flag.Parse()
	if err := load(*descriptors, *target); err != nil {
		fmt.Fprintln(os.Stderr, "virtufin-go-client:", err)
		os.Exit(2)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var cmd command
		var res result
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			res = result{Op: "?", Code: -1, Status: "BadCommand", Message: err.Error()}
		} else {
			res = run(cmd)
		}
		res.Op = cmd.Op
		if err := out.Encode(res); err != nil {
			os.Exit(1)
		}
	}
	conn.Close()
}

func load(descriptorFile, target string) error {
	raw, err := os.ReadFile(descriptorFile)
	if err != nil {
		return err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("%s: %w", descriptorFile, err)
	}
	if files, err = protodesc.NewFiles(&set); err != nil {
		return err
	}
	conn, err = grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	return err
}

func run(cmd command) result {
	switch cmd.Op {
	case "unary", "open":
		method, req, err := prepare(cmd)
		if err != nil {
			return failed(err)
		}
		ctx, cancel := callContext(cmd)
		path := "/" + cmd.Method
		if cmd.Op == "unary" {
			defer cancel()
			reply := dynamicpb.NewMessage(method.Output())
			var header, trailer metadata.MD
			err = conn.Invoke(ctx, path, req, reply, grpc.Header(&header), grpc.Trailer(&trailer))
			res := ended(err)
			res.Headers, res.Trailers = header, trailer
			if err == nil {
				res.Response = toJSON(reply)
			}
			return res
		}
		desc := &grpc.StreamDesc{StreamName: string(method.Name()), ServerStreams: true}
		cs, err := conn.NewStream(ctx, desc, path)
		if err == nil {
			err = cs.SendMsg(req)
		}
		if err == nil {
			err = cs.CloseSend()
		}
		if err != nil {
			cancel()
			return failed(err)
		}
		header, err := cs.Header() // blocks until the response headers (or the end) arrive
		s := &openStream{cancel: cancel, events: make(chan any, 4096)}
		streams[cmd.Stream] = s
		go func() {
			for {
				msg := dynamicpb.NewMessage(method.Output())
				if err := cs.RecvMsg(msg); err != nil {
					s.events <- err
					return
				}
				s.events <- toJSON(msg)
			}
		}()
		if err != nil {
			return drain(s, 1<<30, 5000)
		}
		return result{Code: 0, Status: "OK", Headers: header}
	case "recv":
		s, ok := streams[cmd.Stream]
		if !ok {
			return failed(fmt.Errorf("no stream %q", cmd.Stream))
		}
		return drain(s, cmd.Count, cmd.WaitMs)
	case "cancel":
		s, ok := streams[cmd.Stream]
		if !ok {
			return failed(fmt.Errorf("no stream %q", cmd.Stream))
		}
		s.cancel()
		return drain(s, 1<<30, 5000)
	}
	return failed(fmt.Errorf("unknown op %q", cmd.Op))
}

// prepare finds the method ("pkg.Service/Method") and builds its request from JSON.
func prepare(cmd command) (protoreflect.MethodDescriptor, proto.Message, error) {
	d, err := files.FindDescriptorByName(protoreflect.FullName(strings.Replace(cmd.Method, "/", ".", 1)))
	if err != nil {
		return nil, nil, fmt.Errorf("method %q: %w", cmd.Method, err)
	}
	method, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil, nil, fmt.Errorf("%q is not a method", cmd.Method)
	}
	req := dynamicpb.NewMessage(method.Input())
	if len(cmd.Request) > 0 {
		if err := protojson.Unmarshal(cmd.Request, req); err != nil {
			return nil, nil, fmt.Errorf("request of %s: %w", cmd.Method, err)
		}
	}
	return method, req, nil
}

func callContext(cmd command) (context.Context, context.CancelFunc) {
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.New(cmd.Metadata))
	if cmd.TimeoutMs <= 0 {
		return context.WithCancel(ctx)
	}
	deadline := time.Now().Add(time.Duration(cmd.TimeoutMs) * time.Millisecond)
	if cmd.LocalGraceMs <= 0 {
		return context.WithDeadline(ctx, deadline)
	}
	local, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(time.Until(deadline)+time.Duration(cmd.LocalGraceMs)*time.Millisecond, cancel)
	return advertisedDeadline{local, deadline}, func() { timer.Stop(); cancel() }
}

// drain takes up to `count` messages within waitMs; it stops early at the stream's end.
func drain(s *openStream, count, waitMs int) result {
	res := result{Code: 0, Status: "OK"}
	timeout := time.After(time.Duration(waitMs) * time.Millisecond)
	for len(res.Messages) < count && !s.ended {
		select {
		case ev := <-s.events:
			if msg, ok := ev.(json.RawMessage); ok {
				res.Messages = append(res.Messages, msg)
				continue
			}
			s.ended = true
			end := ended(ev.(error))
			res.Code, res.Status, res.Message, res.Ended = end.Code, end.Status, end.Message, true
		case <-timeout:
			return res
		}
	}
	res.Ended = s.ended
	return res
}

// ended describes how a call ended; io.EOF (a stream's clean end) and nil are OK.
func ended(err error) result {
	st := status.Convert(err)
	if errors.Is(err, io.EOF) {
		st = status.New(0, "")
	}
	return result{Code: int(st.Code()), Status: st.Code().String(), Message: st.Message()}
}

func failed(err error) result {
	return result{Code: -1, Status: "ClientError", Message: err.Error()}
}

func toJSON(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		return json.RawMessage(fmt.Sprintf("%q", "unprintable: "+err.Error()))
	}
	return b
}
