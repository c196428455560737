package im

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/imbot-go/imbot/improto"
)

// This file decodes the hot responses straight from their wire bytes into
// the client's types, with google.golang.org/protobuf/encoding/protowire,
// instead of proto.Unmarshal into improto structs and a conversion: a
// catch-up of 10 000 messages spent most of its time building MessageBody
// structs and ext maps only to copy them again (docs/PERFORMANCE.md).
//
// Every decoder here accepts exactly the bytes proto.Unmarshal accepts and
// gives what the generic path (proto.Unmarshal, then messageFromProto)
// gives; FuzzDecodeMessage, FuzzDecodePullResponse, FuzzDecodePush and
// FuzzDecodeResponse hold them to that. So
// they follow proto's rules: the last value of a scalar field wins, a field
// with an unexpected wire type is an unknown field (skipped, but it must be
// well formed), repeated occurrences of a sub-message merge, and a later
// map entry with the same key replaces an earlier one.

// errWire is the error of bytes that are not a valid encoding.
var errWire = errors.New("malformed protobuf")

// wireError says what part of the encoding is broken, and in which field
// (0 when the field's tag itself is).
func wireError(what string, num protowire.Number, n int) error {
	return fmt.Errorf("%w: %s of field %d: %v", errWire, what, num, protowire.ParseError(n))
}

// Field numbers of the messages decoded here (improto/im.proto).
const (
	fieldResponseBody        = 6   // Response.body
	fieldMessagesPerUserBody = 200 // ResponseBody.messages_per_user_body

	fieldPageMessages   = 1 // MessagesPerUserResponseBody.messages
	fieldPageNextCursor = 2 // MessagesPerUserResponseBody.next_cursor
	fieldPageHasMore    = 3 // MessagesPerUserResponseBody.has_more
)

// consumeTag is protowire.ConsumeTag with proto.Unmarshal's bound on
// field numbers, which protowire leaves to its callers.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

var (
	pageFields   = (&improto.MessagesPerUserResponseBody{}).ProtoReflect().Descriptor().Fields()
	notifyFields = (&improto.NewMessageNotify{}).ProtoReflect().Descriptor().Fields()
)

// deepField reports whether proto.Unmarshal looks inside a field that a
// decoder skips: a sub-message, map entry or packed list in a
// length-delimited field. Anything else (a scalar, a string, bytes, an
// unknown field, a field of the wrong wire type) it only steps over, as
// skipField does, so there is nothing more to check.
func deepField(fields protoreflect.FieldDescriptors, num protowire.Number, typ protowire.Type) bool {
	fd := fields.ByNumber(num)
	if fd == nil || typ != protowire.BytesType {
		return false
	}
	k := fd.Kind()
	return k != protoreflect.StringKind && k != protoreflect.BytesKind
}

// skipField consumes the value of a field this decoder leaves alone, as
// proto.Unmarshal would keep it as an unknown field: it must be well formed.
func skipField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return 0, wireError("value", num, n)
	}
	return n, nil
}

// checkFields checks that b is a well-formed sequence of fields: what
// proto.Unmarshal requires of a message whose fields it does not know (an
// empty message such as MediaInfo, a map entry it discards).
func checkFields(b []byte) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return wireError("tag", 0, n)
		}
		b = b[n:]
		m, err := skipField(num, typ, b)
		if err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// decodeMessage decodes an encoded MessageBody into a Message, as
// messageFromProto of its proto.Unmarshal would. The message's strings
// share one copy of b, so a message costs a handful of allocations
// whatever its number of ext keys.
func decodeMessage(b []byte) (*Message, error) {
	return decodeMessageInto(&Message{}, b)
}

// decodeMessageInto is decodeMessage into a zero Message m.
func decodeMessageInto(m *Message, b []byte) (*Message, error) {
	m.FlightStatus = FlightStatusSucceeded
	// One string for all of the message's text: its fields are substrings
	// of it, at the offsets they have in b.
	s := string(b)
	var (
		indexV2 int64
		ref     *improto.ReferenceInfo
		props   map[string]*improto.PropertyItemList
	)
	for pos := 0; pos < len(b); {
		num, typ, n := consumeTag(b[pos:])
		if n < 0 {
			return nil, wireError("tag", 0, n)
		}
		pos += n
		switch {
		case typ == protowire.VarintType && isMessageVarint(num):
			v, n := protowire.ConsumeVarint(b[pos:])
			if n < 0 {
				return nil, wireError("varint", num, n)
			}
			pos += n
			setMessageVarint(m, num, v, &indexV2)
		case typ == protowire.BytesType && isMessageBytes(num):
			v, n := protowire.ConsumeBytes(b[pos:])
			if n < 0 {
				return nil, wireError("length", num, n)
			}
			start := pos + n - len(v)
			pos += n
			sub := s[start : start+len(v)]
			var err error
			switch num {
			case 1:
				m.ConversationID = ConversationID(sub)
			case 8:
				m.Content = sub
			case 14:
				m.SecSender = sub
			case 9:
				if m.Ext == nil {
					m.Ext = make(map[string]string, 2)
				}
				err = decodeStringEntry(s, start, v, m.Ext)
			case 15:
				if props == nil {
					props = make(map[string]*improto.PropertyItemList)
				}
				err = decodePropertyEntry(v, props)
			case 18:
				if ref == nil {
					ref = &improto.ReferenceInfo{}
				}
				err = proto.UnmarshalOptions{Merge: true}.Unmarshal(v, ref)
			case 16, 24:
				// user_profile entries and MediaInfo: not part of Message,
				// but proto.Unmarshal parses them, so they must parse.
				err = checkFields(v)
			}
			if err != nil {
				return nil, fmt.Errorf("MessageBody field %d: %w", num, err)
			}
		default:
			if num == 9 && m.Ext == nil {
				// proto.Unmarshal makes the map before it looks at the wire
				// type, so an ext field of the wrong type leaves it empty.
				m.Ext = map[string]string{}
			}
			n, err := skipField(num, typ, b[pos:])
			if err != nil {
				return nil, err
			}
			pos += n
		}
	}
	if m.Index == 0 {
		m.Index = indexV2
	}
	m.ClientID = m.ext(InfoKeyClientMessageID)
	m.Reference = referenceFromProto(ref)
	if len(props) > 0 {
		m.Properties = make(map[string][]MessageProperty, len(props))
		for key, list := range props {
			items := make([]MessageProperty, 0, len(list.GetItems()))
			for _, it := range list.GetItems() {
				items = append(items, propertyFromProto(m, key, it))
			}
			m.Properties[key] = items
		}
	}
	return m, nil
}

// isMessageVarint reports the MessageBody varint fields a Message keeps.
func isMessageVarint(num protowire.Number) bool {
	switch num {
	case 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 17:
		return true
	}
	return false
}

// isMessageBytes reports the MessageBody length-delimited fields the
// decoder reads or must check.
func isMessageBytes(num protowire.Number) bool {
	switch num {
	case 1, 8, 9, 14, 15, 16, 18, 24:
		return true
	}
	return false
}

// setMessageVarint sets the Message field of a MessageBody varint field;
// int32 fields truncate as proto does.
func setMessageVarint(m *Message, num protowire.Number, v uint64, indexV2 *int64) {
	switch num {
	case 2:
		m.ConversationType = ConversationType(int32(v))
	case 3:
		m.ServerID = MessageID(int64(v))
	case 4:
		m.Index = int64(v)
	case 5:
		m.ConversationShortID = ConversationShortID(int64(v))
	case 6:
		m.Type = MessageType(int32(v))
	case 7:
		m.Sender = UserID(int64(v))
	case 10:
		m.CreatedAt = msTime(int64(v))
	case 11:
		m.Version = int64(v)
	case 12:
		m.ServerStatus = ServerMessageStatus(int32(v))
	case 13:
		m.Order = int64(v)
	case 17:
		*indexV2 = int64(v)
	}
}

// decodeStringEntry decodes one entry of a map<string, string> (key 1,
// value 2) into into; entry starts at offset start of s, whose substrings
// the key and value become.
func decodeStringEntry(s string, start int, entry []byte, into map[string]string) error {
	var k, v string
	for pos := 0; pos < len(entry); {
		num, typ, n := consumeTag(entry[pos:])
		if n < 0 {
			return wireError("map entry tag", 0, n)
		}
		pos += n
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(entry[pos:])
			if n < 0 {
				return wireError("map entry length", num, n)
			}
			at := start + pos + n - len(b)
			pos += n
			if num == 1 {
				k = s[at : at+len(b)]
			} else {
				v = s[at : at+len(b)]
			}
			continue
		}
		n, err := skipField(num, typ, entry[pos:])
		if err != nil {
			return err
		}
		pos += n
	}
	into[k] = v
	return nil
}

// decodePropertyEntry decodes one entry of property_list (key 1, value 2 a
// PropertyItemList) into into. Properties are rare; their items go through
// proto.
func decodePropertyEntry(entry []byte, into map[string]*improto.PropertyItemList) error {
	var k string
	list := &improto.PropertyItemList{}
	for len(entry) > 0 {
		num, typ, n := consumeTag(entry)
		if n < 0 {
			return wireError("map entry tag", 0, n)
		}
		entry = entry[n:]
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(entry)
			if n < 0 {
				return wireError("map entry length", num, n)
			}
			entry = entry[n:]
			if num == 1 {
				k = string(b)
			} else if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, list); err != nil {
				return err
			}
			continue
		}
		n, err := skipField(num, typ, entry)
		if err != nil {
			return err
		}
		entry = entry[n:]
	}
	into[k] = list
	return nil
}

// inboxPage is a decoded 200 response body: the inbox entries after a
// cursor.
type inboxPage struct {
	messages   []*Message
	nextCursor int64
	hasMore    bool
}

// decodePullResponse decodes a Response to 200 (GET_MESSAGES_BY_USER): the
// envelope through proto (it is small), the page of messages with
// decodeMessage. The envelope it returns has no body.
func decodePullResponse(data []byte) (*improto.Response, inboxPage, error) {
	env, pages, err := splitPullResponse(data)
	if err != nil {
		return nil, inboxPage{}, err
	}
	page, err := decodePages(pages)
	if err != nil {
		return nil, inboxPage{}, err
	}
	return env, page, nil
}

// splitPullResponse decodes the envelope of a Response to 200 and returns
// it without its body, and the occurrences of the page
// (MessagesPerUserResponseBody) still encoded, sharing data.
func splitPullResponse(data []byte) (*improto.Response, [][]byte, error) {
	env, bodies, err := splitFields(data, fieldResponseBody)
	if err != nil {
		return nil, nil, err
	}
	resp := &improto.Response{}
	if err := proto.Unmarshal(env, resp); err != nil {
		return nil, nil, err
	}
	var pages [][]byte
	for _, body := range bodies {
		rest, p, err := splitFields(body, fieldMessagesPerUserBody)
		if err != nil {
			return nil, nil, err
		}
		// The other bodies are not the caller's, but proto would parse them.
		if err := proto.Unmarshal(rest, &improto.ResponseBody{}); err != nil {
			return nil, nil, err
		}
		pages = append(pages, p...)
	}
	return resp, pages, nil
}

// decodePages decodes the occurrences of a page, which merge. A server
// sends one; several are checked one by one, as proto parses them, and
// then decoded joined: the concatenation of valid encodings is their
// merge (but a broken one could borrow its neighbour's bytes).
func decodePages(pages [][]byte) (inboxPage, error) {
	var page inboxPage
	if len(pages) > 1 {
		for _, p := range pages {
			var check inboxPage
			if err := check.decode(p, true); err != nil {
				return page, err
			}
		}
		pages = [][]byte{slices.Concat(pages...)}
	}
	for _, p := range pages {
		if err := page.decode(p, true); err != nil {
			return page, err
		}
	}
	return page, nil
}

// decode merges an encoded MessagesPerUserResponseBody into p. Without
// messages it reads only the cursor and has_more, skipping the messages
// unchecked, which is what the pull pipeline needs to ask for the next
// page; the full decode checks everything.
func (p *inboxPage) decode(b []byte, messages bool) error {
	var rest []byte // the fields a page does not use, for proto to check
	var slab []Message
	if messages {
		p.messages = slices.Grow(p.messages, countFields(b, fieldPageMessages))
	}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return wireError("tag", 0, n)
		}
		field := b
		b = b[n:]
		switch {
		case num == fieldPageMessages && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return wireError("length", num, n)
			}
			b = b[n:]
			if !messages {
				continue
			}
			if len(slab) == 0 {
				slab = make([]Message, messageSlab)
			}
			m, err := decodeMessageInto(&slab[0], v)
			if err != nil {
				return err
			}
			slab = slab[1:]
			p.messages = append(p.messages, m)
		case (num == fieldPageNextCursor || num == fieldPageHasMore) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return wireError("varint", num, n)
			}
			b = b[n:]
			if num == fieldPageNextCursor {
				p.nextCursor = int64(v)
			} else {
				p.hasMore = protowire.DecodeBool(v)
			}
		default:
			n, err := skipField(num, typ, b)
			if err != nil {
				return err
			}
			b = b[n:]
			if deepField(pageFields, num, typ) {
				rest = append(rest, field[:len(field)-len(b)]...)
			}
		}
	}
	if messages && len(rest) > 0 {
		return proto.Unmarshal(rest, &improto.MessagesPerUserResponseBody{})
	}
	return nil
}

// messageSlab is how many Messages of a page share one allocation: few
// enough that a message kept long (in the cache, by the application) holds
// on to little besides itself.
const messageSlab = 16

// countFields counts the length-delimited occurrences of field num in b,
// as far as b is well formed.
func countFields(b []byte, num protowire.Number) int {
	count := 0
	for len(b) > 0 {
		n0, typ, n := consumeTag(b)
		if n < 0 {
			return count
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(n0, typ, b); n < 0 {
			return count
		}
		b = b[n:]
		if n0 == num && typ == protowire.BytesType {
			count++
		}
	}
	return count
}

// splitFields separates the length-delimited occurrences of field num from
// the other fields of an encoded message.
func splitFields(b []byte, num protowire.Number) (rest []byte, values [][]byte, err error) {
	for len(b) > 0 {
		n0, typ, n := consumeTag(b)
		if n < 0 {
			return nil, nil, wireError("tag", 0, n)
		}
		field := b
		b = b[n:]
		if n0 == num && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, wireError("length", num, n)
			}
			b = b[n:]
			values = append(values, v)
			continue
		}
		m, err := skipField(n0, typ, b)
		if err != nil {
			return nil, nil, err
		}
		b = b[m:]
		rest = append(rest, field[:len(field)-len(b)]...)
	}
	return rest, values, nil
}

// Field numbers of the pushes decoded here.
const (
	fieldHasNewMessageNotify = 500 // ResponseBody.has_new_message_notify (500 and 505)

	fieldNotifyMessage        = 5 // NewMessageNotify.message
	fieldNotifyPreviousCursor = 6 // NewMessageNotify.previous_cursor
	fieldNotifyNextCursor     = 7 // NewMessageNotify.next_cursor
)

// push is a decoded push. A message push (500, 505) carries its notify
// decoded by decodeNotify and resp without its body; any other push is
// resp, decoded whole.
type push struct {
	resp   *improto.Response
	notify *messageNotify
}

// messageNotify is what the sync engine reads of a NewMessageNotify.
type messageNotify struct {
	message                    *Message // nil when the notify has none
	previousCursor, nextCursor int64
}

// decodePushResponse decodes the Response of a push; message pushes go
// through decodeNotify.
func decodePushResponse(data []byte) (push, error) {
	env, bodies, err := splitFields(data, fieldResponseBody)
	if err != nil {
		return push{}, err
	}
	resp := &improto.Response{}
	if err := proto.Unmarshal(env, resp); err != nil {
		return push{}, err
	}
	switch improto.IMCMD(resp.GetCmd()) {
	case improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY:
		n, err := decodeNotify(bodies)
		if err != nil {
			return push{}, err
		}
		return push{resp: resp, notify: n}, nil
	}
	if len(bodies) > 0 {
		resp = &improto.Response{}
		if err := proto.Unmarshal(data, resp); err != nil {
			return push{}, err
		}
	}
	return push{resp: resp}, nil
}

// decodeNotify decodes the NewMessageNotify in the encoded ResponseBodies
// of a push; its message goes through decodeMessage.
func decodeNotify(bodies [][]byte) (*messageNotify, error) {
	n := &messageNotify{}
	var msgs [][]byte // the message's occurrences: they merge
	for _, body := range bodies {
		rest, notifies, err := splitFields(body, fieldHasNewMessageNotify)
		if err != nil {
			return nil, err
		}
		if len(rest) > 0 {
			if err := proto.Unmarshal(rest, &improto.ResponseBody{}); err != nil {
				return nil, err
			}
		}
		for _, b := range notifies {
			var other []byte // fields the engine does not read, for proto to check
			for len(b) > 0 {
				num, typ, l := consumeTag(b)
				if l < 0 {
					return nil, wireError("tag", 0, l)
				}
				field := b
				b = b[l:]
				switch {
				case num == fieldNotifyMessage && typ == protowire.BytesType:
					v, l := protowire.ConsumeBytes(b)
					if l < 0 {
						return nil, wireError("length", num, l)
					}
					b = b[l:]
					msgs = append(msgs, v)
				case (num == fieldNotifyPreviousCursor || num == fieldNotifyNextCursor) && typ == protowire.VarintType:
					v, l := protowire.ConsumeVarint(b)
					if l < 0 {
						return nil, wireError("varint", num, l)
					}
					b = b[l:]
					if num == fieldNotifyPreviousCursor {
						n.previousCursor = int64(v)
					} else {
						n.nextCursor = int64(v)
					}
				default:
					l, err := skipField(num, typ, b)
					if err != nil {
						return nil, err
					}
					b = b[l:]
					if deepField(notifyFields, num, typ) {
						other = append(other, field[:len(field)-len(b)]...)
					}
				}
			}
			if len(other) > 0 {
				if err := proto.Unmarshal(other, &improto.NewMessageNotify{}); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(msgs) > 0 {
		msg := msgs[0]
		if len(msgs) > 1 {
			// The occurrences merge: each must parse on its own, and then
			// their concatenation is their merge.
			for _, m := range msgs {
				if _, err := decodeMessage(m); err != nil {
					return nil, err
				}
			}
			msg = slices.Concat(msgs...)
		}
		m, err := decodeMessage(msg)
		if err != nil {
			return nil, err
		}
		n.message = m
	}
	return n, nil
}

var responseBodyFields = (&improto.ResponseBody{}).ProtoReflect().Descriptor().Fields()

// setRequestBody attaches msg to req as its body at RequestBody field num
// (improto.AppendRequestBody), kept as req's unknown fields.
func setRequestBody(req *improto.Request, num protowire.Number, msg proto.Message) error {
	b, err := improto.AppendRequestBody(nil, num, msg)
	if err != nil {
		return err
	}
	req.ProtoReflect().SetUnknown(b)
	return nil
}

// decodeResponse decodes a Response and the body at ResponseBody field num
// (nil when absent), without a ResponseBody: the envelope it returns has
// no body. The other fields of the body are checked, as proto.Unmarshal
// would, only when there are any.
func decodeResponse(data []byte, num protowire.Number) (*improto.Response, proto.Message, error) {
	env, bodies, err := splitFields(data, fieldResponseBody)
	if err != nil {
		return nil, nil, err
	}
	resp := &improto.Response{}
	if err := proto.Unmarshal(env, resp); err != nil {
		return nil, nil, err
	}
	var body proto.Message
	for _, b := range bodies {
		rest, values, err := splitFields(b, num)
		if err != nil {
			return nil, nil, err
		}
		if len(rest) > 0 {
			if err := proto.Unmarshal(rest, &improto.ResponseBody{}); err != nil {
				return nil, nil, err
			}
		}
		for _, v := range values {
			if body == nil {
				if body = newResponseBody(num); body == nil {
					// Not a message field: proto would have decoded it
					// with the rest.
					if err := proto.Unmarshal(b, &improto.ResponseBody{}); err != nil {
						return nil, nil, err
					}
					break
				}
			}
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, body); err != nil {
				return nil, nil, err
			}
		}
	}
	return resp, body, nil
}

// newResponseBody returns a new message of the type of ResponseBody field
// num, or nil when num is not a message field.
func newResponseBody(num protowire.Number) proto.Message {
	fd := responseBodyFields.ByNumber(num)
	if fd == nil || fd.Message() == nil {
		return nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(fd.Message().FullName())
	if err != nil {
		return nil
	}
	return mt.New().Interface()
}
