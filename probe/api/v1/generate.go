// Package probev1 is version 1 of the protocol between the node probe and its
// clients, generated from probe.proto. Edit the .proto and run
// `make generate-api` (or `go generate ./probe/api/...`); never edit the
// generated files.
package probev1

// ProtocolVersion is the version of the protocol this package speaks.
const ProtocolVersion = 1

// The code generators are pinned as tools in go.mod; `go tool -n` builds them
// and prints their path, so protoc from the system is the only other need.
//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative probe.proto"
