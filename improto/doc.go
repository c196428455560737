// Package improto holds the IM Cloud wire schema (package im_proto) and its
// generated Go code: the Request / Response envelopes, the RequestBody and
// ResponseBody containers, every command body, the pushes, the enums and
// the Frontier Frame.
//
// The .proto files follow ../shared/protocol/IM_PROTOCOL.md field for field.
// Where the reference is silent or uncertain, README.md in this directory
// records the choice imbot made.
//
// # Regenerating
//
// The generated *.pb.go files are committed. After editing a .proto file, run
//
//	go generate ./improto
//
// which needs protoc (Debian: apt-get install protobuf-compiler); the Go
// plugin comes from go.mod's tool directive. TestGeneratedCodeIsFresh fails
// when the committed code differs from what the .proto files generate.
//
// # Commands
//
// [LookupCommand] and [CommandForRoute] map between IMCMD values, their HTTP
// routes and the container field that carries each body; [Command] wraps and
// unwraps bodies without a switch over every command.
package improto

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=. --go_opt=paths=source_relative im.proto frame.proto"
