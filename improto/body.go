package improto

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Envelope fields that carry a command's body.
const (
	RequestBodyField  protowire.Number = 8 // Request.body
	ResponseBodyField protowire.Number = 6 // Response.body
)

// AppendRequestBody appends to b the bytes proto.Marshal writes for
// Request.body = &RequestBody{<num>: msg}: what a client attaches to a
// Request as its unknown fields instead of building a RequestBody, a
// struct of one pointer per command (over a kilobyte) that proto walks
// whole when a request has one body. It fails when RequestBody field num
// does not hold msg's type.
func AppendRequestBody(b []byte, num protowire.Number, msg proto.Message) ([]byte, error) {
	return appendBody(b, RequestBodyField, (*RequestBody)(nil).ProtoReflect().Descriptor().Fields(), num, msg)
}

// AppendResponseBody is AppendRequestBody for Response.body, a server's
// answer or push.
func AppendResponseBody(b []byte, num protowire.Number, msg proto.Message) ([]byte, error) {
	return appendBody(b, ResponseBodyField, (*ResponseBody)(nil).ProtoReflect().Descriptor().Fields(), num, msg)
}

func appendBody(b []byte, envelope protowire.Number, fields protoreflect.FieldDescriptors, num protowire.Number, msg proto.Message) ([]byte, error) {
	fd := fields.ByNumber(num)
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != msg.ProtoReflect().Descriptor().FullName() {
		return b, fmt.Errorf("improto: %T is not field %d of %s", msg, num, fields.Get(0).ContainingMessage().Name())
	}
	size := proto.Size(msg)
	inner := protowire.SizeTag(num) + protowire.SizeBytes(size)
	b = protowire.AppendTag(b, envelope, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, msg)
}
