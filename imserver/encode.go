package imserver

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/imbot-go/imbot/improto"
)

// This file encodes responses and frames straight to bytes. A ResponseBody
// is a struct with a pointer for every command (over a kilobyte), and proto
// walks all of them to marshal the one that is set; a response or push
// carries exactly one body, so the server writes the body field by hand
// and hands proto only the body itself.

// Field numbers of the envelopes (improto/im.proto, frame.proto).
const (
	fieldRequestBody  = improto.RequestBodyField
	fieldResponseBody = improto.ResponseBodyField

	fieldFrameSeqID       = 1
	fieldFrameLogID       = 2
	fieldFrameService     = 3
	fieldFrameMethod      = 4
	fieldFramePayloadType = 7
	fieldFramePayload     = 8
)

var requestBodyFields = (&improto.RequestBody{}).ProtoReflect().Descriptor().Fields()

// decodeRequest decodes a Request and its command's body without building
// a RequestBody: the Request it returns has no body, and body is nil when
// the command has none or the request does not carry it. It accepts what
// proto.Unmarshal accepts (FuzzDecodeRequest).
func decodeRequest(data []byte) (req *improto.Request, body proto.Message, err error) {
	env, bodies, err := splitFields(data, fieldRequestBody)
	if err != nil {
		return nil, nil, err
	}
	req = &improto.Request{}
	if err := proto.Unmarshal(env, req); err != nil {
		return nil, nil, err
	}
	cmd, _ := improto.LookupCommand(improto.IMCMD(req.GetCmd()))
	var mt protoreflect.MessageType
	if fd := requestBodyFields.ByNumber(cmd.BodyField); cmd.BodyField != 0 && fd != nil && fd.Message() != nil {
		mt, _ = protoregistry.GlobalTypes.FindMessageByName(fd.Message().FullName())
	}
	for _, b := range bodies {
		num := cmd.BodyField
		if mt == nil {
			num = 0 // no body to look for: proto checks all of it
		}
		rest, values, err := splitFields(b, num)
		if err != nil {
			return nil, nil, err
		}
		if len(rest) > 0 {
			if err := proto.Unmarshal(rest, &improto.RequestBody{}); err != nil {
				return nil, nil, err
			}
		}
		for _, v := range values {
			if body == nil {
				body = mt.New().Interface()
			}
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, body); err != nil {
				return nil, nil, err
			}
		}
	}
	return req, body, nil
}

// splitFields separates the length-delimited occurrences of field num from
// the other fields of an encoded message; num 0 separates nothing.
func splitFields(b []byte, num protowire.Number) (rest []byte, values [][]byte, err error) {
	for len(b) > 0 {
		n0, typ, n := protowire.ConsumeTag(b)
		if n < 0 || n0 > protowire.MaxValidNumber {
			return nil, nil, fmt.Errorf("malformed field tag")
		}
		field := b
		b = b[n:]
		if n0 == num && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			values = append(values, v)
			continue
		}
		n = protowire.ConsumeFieldValue(n0, typ, b)
		if n < 0 {
			return nil, nil, fmt.Errorf("field %d: %w", n0, protowire.ParseError(n))
		}
		b = b[n:]
		if len(values) == 0 && len(rest) == 0 && len(b) == 0 {
			return field, nil, nil // the whole message is other fields: no copy
		}
		rest = append(rest, field[:len(field)-len(b)]...)
	}
	return rest, values, nil
}

// setBody attaches msg to resp as its body at ResponseBody field num
// (improto.AppendResponseBody), kept as resp's unknown fields.
func setBody(resp *improto.Response, num protowire.Number, msg proto.Message) error {
	b, err := improto.AppendResponseBody(nil, num, msg)
	if err != nil {
		return fmt.Errorf("imserver: %w", err)
	}
	resp.Body = nil
	resp.ProtoReflect().SetUnknown(b)
	return nil
}

// bodyHeadroom is the room newEncodedBody leaves in front of a body for
// the field headers attachEncoded writes there: the tag and length of
// Response.body, then of the body's field (its number fits in three
// bytes, a length in ten).
const bodyHeadroom = 1 + binary.MaxVarintLen64 + 3 + binary.MaxVarintLen64

// newEncodedBody returns a buffer for a handler to append its body's
// encoding to, of size bytes, and then to put in call.encoded.
func newEncodedBody(size int) []byte {
	return make([]byte, bodyHeadroom, bodyHeadroom+size)
}

// attachEncoded is setBody for a body its handler encoded itself (a page
// of stored messages): the headers go into the buffer's headroom, so the
// body is not copied.
func attachEncoded(resp *improto.Response, num protowire.Number, buf []byte) {
	body := buf[bodyHeadroom:]
	inner := protowire.SizeTag(num) + protowire.SizeBytes(len(body))
	var head []byte
	head = protowire.AppendTag(head, fieldResponseBody, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(inner))
	head = protowire.AppendTag(head, num, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(body)))
	start := bodyHeadroom - len(head)
	copy(buf[start:], head)
	resp.Body = nil
	resp.ProtoReflect().SetUnknown(buf[start:])
}

// encodeFrame wraps a Response in a Frame with the server's service and
// method, encoding both in one buffer.
func (s *Server) encodeFrame(seqID uint64, resp *improto.Response) ([]byte, error) {
	size := proto.Size(resp)
	b := make([]byte, 0, size+64)
	b = protowire.AppendTag(b, fieldFrameSeqID, protowire.VarintType)
	b = protowire.AppendVarint(b, seqID)
	b = protowire.AppendTag(b, fieldFrameLogID, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(s.cfg.Now().UnixMilli()))
	b = protowire.AppendTag(b, fieldFrameService, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(int64(s.cfg.FrontierService))) // int32: sign-extended, as proto writes it
	b = protowire.AppendTag(b, fieldFrameMethod, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(int64(s.cfg.FrontierMethod)))
	b = protowire.AppendTag(b, fieldFramePayloadType, protowire.BytesType)
	b = protowire.AppendString(b, "pb")
	b = protowire.AppendTag(b, fieldFramePayload, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, resp)
}
