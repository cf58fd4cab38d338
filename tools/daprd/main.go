// Command daprd is the Dapr sidecar, built from github.com/dapr/dapr's own
// entry point (cmd/daprd/app) with the "stablecomponents" build tag, plus the
// JetStream pub/sub component, which Dapr only registers under the
// "allcomponents" tag. Nothing of Dapr's start-up code is copied here.
//
// Build with tools/daprd/build.sh; see deploy/dapr/README.md.
package main

import (
	"github.com/dapr/components-contrib/pubsub/jetstream"
	"github.com/dapr/dapr/cmd/daprd/app"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
)

func init() {
	// Same registration as github.com/dapr/dapr/cmd/daprd/components/pubsub_jetstream.go
	// (which is behind the "allcomponents" tag).
	pubsubLoader.DefaultRegistry.RegisterComponent(jetstream.NewJetStream, "jetstream")
}

func main() {
	app.Run()
}
