// A generic gRPC client in Go for the interoperability test (test/e2e/go-client.test.ts). It
// loads the API's descriptors at run time (a `buf build` image), so no Go code is generated.
// Every version here is the one dapr v1.16.5 selects (see tools/daprd/go.mod), so a machine that
// built daprd already holds them all in its module cache. Don't `go mod tidy`: tidy also wants
// the modules grpc's own tests import.
module virtufin-api/test/interop/go-client

go 1.24.0

require (
	google.golang.org/grpc v1.73.0
	google.golang.org/protobuf v1.36.6
)

require (
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250603155806-513f23925822 // indirect
)
