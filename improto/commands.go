package improto

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Command describes one IMCMD value on the wire: the HTTP routes it is
// posted to and the field of RequestBody / ResponseBody that carries its body.
type Command struct {
	Cmd IMCMD
	// Routes lists every spelling of the command's HTTP route, without a
	// leading slash. The Android spelling comes first; a differing web
	// spelling follows. Empty for pushes and socket-only commands.
	Routes []string
	// BodyField is the RequestBody / ResponseBody field number that carries
	// the command's body: the command number except for the reference's
	// exceptions (IM_PROTOCOL.md section 5.4). Zero when there is no body.
	BodyField protoreflect.FieldNumber
}

var (
	commandsByCmd   = make(map[IMCMD]Command, len(commandTable))
	commandsByRoute = make(map[string]Command, len(commandTable))
)

func init() {
	for _, c := range commandTable {
		commandsByCmd[c.Cmd] = c
		for _, r := range c.Routes {
			commandsByRoute[normalizeRoute(r)] = c
		}
	}
}

// normalizeRoute drops the slashes around a route, so that "/v1/x/" and
// "v1/x" (some reference routes keep a trailing slash) name one command.
func normalizeRoute(route string) string { return strings.Trim(route, "/") }

// LookupCommand returns the description of cmd.
func LookupCommand(cmd IMCMD) (Command, bool) {
	c, ok := commandsByCmd[cmd]
	return c, ok
}

// CommandForRoute returns the command served at route. Leading and trailing
// slashes are ignored.
func CommandForRoute(route string) (Command, bool) {
	c, ok := commandsByRoute[normalizeRoute(route)]
	return c, ok
}

// Commands returns every known command in table order.
func Commands() []Command {
	out := make([]Command, len(commandTable))
	copy(out, commandTable)
	return out
}

// Route returns the command's first route, or "" when it has none.
func (c Command) Route() string {
	if len(c.Routes) == 0 {
		return ""
	}
	return c.Routes[0]
}

// RequestBodyMessage returns the message stored in body for this command, or
// nil when the command has no request body or body does not set it.
func (c Command) RequestBodyMessage(body *RequestBody) protoreflect.ProtoMessage {
	return bodyField(body, c.BodyField)
}

// ResponseBodyMessage returns the message stored in body for this command, or
// nil when the command has no response body or body does not set it.
func (c Command) ResponseBodyMessage(body *ResponseBody) protoreflect.ProtoMessage {
	return bodyField(body, c.BodyField)
}

func bodyField(body protoreflect.ProtoMessage, num protoreflect.FieldNumber) protoreflect.ProtoMessage {
	if body == nil || num == 0 {
		return nil
	}
	m := body.ProtoReflect()
	fd := m.Descriptor().Fields().ByNumber(num)
	if fd == nil || fd.Message() == nil || !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message().Interface()
}

// NewRequestBody wraps msg in a RequestBody at this command's field. It
// reports false when the command has no request body of msg's type.
func (c Command) NewRequestBody(msg protoreflect.ProtoMessage) (*RequestBody, bool) {
	body := &RequestBody{}
	return body, setBodyField(body, c.BodyField, msg)
}

// NewResponseBody wraps msg in a ResponseBody at this command's field. It
// reports false when the command has no response body of msg's type.
func (c Command) NewResponseBody(msg protoreflect.ProtoMessage) (*ResponseBody, bool) {
	body := &ResponseBody{}
	return body, setBodyField(body, c.BodyField, msg)
}

func setBodyField(body protoreflect.ProtoMessage, num protoreflect.FieldNumber, msg protoreflect.ProtoMessage) bool {
	if num == 0 || msg == nil {
		return false
	}
	m := body.ProtoReflect()
	fd := m.Descriptor().Fields().ByNumber(num)
	v := msg.ProtoReflect()
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != v.Descriptor().FullName() {
		return false
	}
	m.Set(fd, protoreflect.ValueOfMessage(v))
	return true
}
