package improto_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/imbot-go/imbot/improto"
)

// readTSV reads a tab-separated reference file from testdata, header dropped.
func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	require.NoError(t, err)
	return rows[1:]
}

func findMessage(name string) protoreflect.MessageDescriptor {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("im_proto." + name))
	if err != nil {
		return nil
	}
	md, _ := d.(protoreflect.MessageDescriptor)
	return md
}

func findEnum(name string) protoreflect.EnumDescriptor {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("im_proto." + name))
	if err != nil {
		return nil
	}
	ed, _ := d.(protoreflect.EnumDescriptor)
	return ed
}

// typeName renders a field's type the way protocol-fields.tsv writes it.
func typeName(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "map<" + typeName(fd.MapKey()) + "," + typeName(fd.MapValue()) + ">"
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().Name())
	case protoreflect.EnumKind:
		return "enum:" + string(fd.Enum().Name())
	default:
		return fd.Kind().String()
	}
}

func labelName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.Cardinality() == protoreflect.Repeated:
		return "repeated"
	case fd.Cardinality() == protoreflect.Required:
		return "required"
	default:
		return "optional"
	}
}

// TestProtoMatchesReference checks every field and enum value of the
// reference against the compiled schema: same name, number, type and label.
// Fields the reference does not list must be imbot extensions: numbered 100
// or above, or inside a message whose fields the reference does not give.
func TestProtoMatchesReference(t *testing.T) {
	known := map[string]map[int]bool{}
	for _, row := range readTSV(t, "protocol-fields.tsv") {
		msg, field, tag, typ, label := row[0], row[1], row[2], row[3], row[4]
		num, err := strconv.Atoi(tag)
		require.NoError(t, err, "bad tag in %v", row)
		if typ == "enum_value" {
			ed := findEnum(msg)
			if !assert.NotNil(t, ed, "enum %s missing", msg) {
				continue
			}
			v := ed.Values().ByName(protoreflect.Name(field))
			if assert.NotNil(t, v, "enum value %s.%s = %d missing", msg, field, num) {
				assert.Equal(t, num, int(v.Number()), "enum value %s.%s renumbered", msg, field)
			}
			continue
		}
		md := findMessage(msg)
		if !assert.NotNil(t, md, "message %s missing", msg) {
			continue
		}
		if known[msg] == nil {
			known[msg] = map[int]bool{}
		}
		known[msg][num] = true
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(num))
		if !assert.NotNil(t, fd, "%s.%s = %d missing", msg, field, num) {
			continue
		}
		assert.Equal(t, field, string(fd.Name()), "%s field %d name, as the reference says", msg, num)
		want := typ
		if want == "message:(empty)" {
			want = string(fd.Message().Name()) // named by imbot, see README
		}
		assert.Equal(t, want, typeName(fd), "%s.%s type, as the reference says", msg, field)
		assert.Equal(t, label, labelName(fd), "%s.%s label, as the reference says", msg, field)
	}
	msgs := improto.File_im_proto
	for i := 0; i < msgs.Messages().Len(); i++ {
		md := msgs.Messages().Get(i)
		nums, listed := known[string(md.Name())]
		for j := 0; j < md.Fields().Len(); j++ {
			fd := md.Fields().Get(j)
			if !listed || nums[int(fd.Number())] || fd.Number() >= 100 {
				continue
			}
			assert.Fail(t, "field outside the reference",
				"%s.%s = %d is not in the reference and not in imbot's extension range (>= 100)",
				md.Name(), fd.Name(), fd.Number())
		}
	}
}

// TestCommandTableMatchesReference checks the command table against
// imcmd-routes.tsv: every command, both route spellings, the body field.
func TestCommandTableMatchesReference(t *testing.T) {
	rows := readTSV(t, "imcmd-routes.tsv")
	for _, row := range rows {
		n, _ := strconv.Atoi(row[0])
		c, ok := improto.LookupCommand(improto.IMCMD(n))
		if !assert.True(t, ok, "command %s (%d) missing", row[1], n) {
			continue
		}
		assert.Equal(t, strings.Fields(row[1])[0], improto.IMCMD(n).String(), "IMCMD %d name, as the reference says", n)
		for _, route := range []string{row[2], row[3]} {
			if route == "" {
				continue
			}
			got, ok := improto.CommandForRoute(route)
			if assert.True(t, ok, "route %q does not serve %s", route, row[1]) {
				assert.Equal(t, c.Cmd, got.Cmd, "route %q does not serve %s", route, row[1])
			}
		}
		wantField := 0
		if row[4] != "" {
			wantField, _ = strconv.Atoi(row[4])
		}
		assert.Equal(t, wantField, int(c.BodyField), "%s body field, as the reference says", row[1])
	}
	assert.Len(t, improto.Commands(), len(rows)+3, "table has the reference's %d commands plus 3 imbot extensions", len(rows))
}

func TestCommandBodies(t *testing.T) {
	c, ok := improto.CommandForRoute("/v3/conversation/mark_read")
	require.True(t, ok, "v3 mark_read route")
	require.Equal(t, improto.IMCMD_MARK_CONVERSATION_READ_V3, c.Cmd, "v3 mark_read route")
	in := &improto.MarkConversationReadRequestBody{ReadMessageIndex: proto.Int64(7)}
	body, ok := c.NewRequestBody(in)
	require.True(t, ok, "2002 must use field 604")
	require.Same(t, in, body.GetMarkConversationReadBody(), "2002 must use field 604: %v", body)
	require.Same(t, in, c.RequestBodyMessage(body), "RequestBodyMessage")
	_, ok = c.NewRequestBody(&improto.SendMessageRequestBody{})
	require.False(t, ok, "a body of the wrong type must be refused")
	require.Equal(t, nil, c.RequestBodyMessage(&improto.RequestBody{}), "unset body: an untyped nil")
	recall, _ := improto.LookupCommand(improto.IMCMD_RECALL_MESSAGE)
	_, ok = recall.NewResponseBody(&improto.RecallMessageResponseBody{})
	require.True(t, ok, "recall has an (empty) response body")
	for _, route := range []string{"v1/message/get_by_id", "v1/message/get_message_by_server_id"} {
		c, _ := improto.CommandForRoute(route)
		assert.Equal(t, improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID, c.Cmd, "%s serves", route)
	}
}

// TestGeneratedCodeIsFresh regenerates the Go code into a temporary
// directory and compares it with the committed files. It needs protoc, which
// .ci/run installs; without it the test says how to get it and skips.
func TestGeneratedCodeIsFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not installed (apt-get install protobuf-compiler); CI runs this check")
	}
	plugin, err := exec.Command("go", "tool", "-n", "protoc-gen-go").Output()
	require.NoError(t, err, "go tool -n protoc-gen-go")
	dir := t.TempDir()
	cmd := exec.Command(protoc, "--plugin=protoc-gen-go="+strings.TrimSpace(string(plugin)),
		"--go_out="+dir, "--go_opt=paths=source_relative", "im.proto", "frame.proto")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "protoc: %s", out)
	for _, name := range []string{"im.pb.go", "frame.pb.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		got, err := os.ReadFile(name)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(got, want), "%s is stale: run go generate ./improto", name)
	}
}

// TestUnknownFieldsSurvive checks the wire rule that unknown fields are
// skipped, and kept when a message is re-encoded.
func TestUnknownFieldsSurvive(t *testing.T) {
	b, err := proto.Marshal(&improto.MessageBody{ConversationId: proto.String("c"), Content: proto.String("x")})
	require.NoError(t, err)
	b = append(b, 0xF8, 0x06, 0x01) // field 111, varint 1: unknown to every build
	var m improto.MessageBody
	require.NoError(t, proto.Unmarshal(b, &m))
	again, err := proto.Marshal(&m)
	require.NoError(t, err)
	require.True(t, bytes.HasSuffix(again, []byte{0xF8, 0x06, 0x01}), "unknown field lost: % x", again)
}
