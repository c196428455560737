module github.com/imbot-go/imbot

go 1.26

require (
	github.com/google/btree v1.1.3
	google.golang.org/protobuf v1.36.12
)

tool google.golang.org/protobuf/cmd/protoc-gen-go
