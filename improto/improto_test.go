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

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/imbot-go/imbot/improto"
)

// readTSV reads a tab-separated reference file from testdata, header dropped.
func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatalf("bad tag in %v", row)
		}
		if typ == "enum_value" {
			ed := findEnum(msg)
			if ed == nil {
				t.Errorf("enum %s missing", msg)
				continue
			}
			v := ed.Values().ByName(protoreflect.Name(field))
			if v == nil || int(v.Number()) != num {
				t.Errorf("enum value %s.%s = %d missing or renumbered", msg, field, num)
			}
			continue
		}
		md := findMessage(msg)
		if md == nil {
			t.Errorf("message %s missing", msg)
			continue
		}
		if known[msg] == nil {
			known[msg] = map[int]bool{}
		}
		known[msg][num] = true
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(num))
		if fd == nil {
			t.Errorf("%s.%s = %d missing", msg, field, num)
			continue
		}
		if string(fd.Name()) != field {
			t.Errorf("%s field %d named %s, reference says %s", msg, num, fd.Name(), field)
		}
		want := typ
		if want == "message:(empty)" {
			want = string(fd.Message().Name()) // named by imbot, see README
		}
		if got := typeName(fd); got != want {
			t.Errorf("%s.%s type %s, reference says %s", msg, field, got, want)
		}
		if got := labelName(fd); got != label {
			t.Errorf("%s.%s label %s, reference says %s", msg, field, got, label)
		}
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
			t.Errorf("%s.%s = %d is not in the reference and not in imbot's extension range (>= 100)",
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
		if !ok {
			t.Errorf("command %s (%d) missing", row[1], n)
			continue
		}
		if name := strings.Fields(row[1])[0]; improto.IMCMD(n).String() != name {
			t.Errorf("IMCMD %d is %s, reference says %s", n, improto.IMCMD(n), name)
		}
		for _, route := range []string{row[2], row[3]} {
			if route == "" {
				continue
			}
			got, ok := improto.CommandForRoute(route)
			if !ok || got.Cmd != c.Cmd {
				t.Errorf("route %q does not serve %s", route, row[1])
			}
		}
		wantField := 0
		if row[4] != "" {
			wantField, _ = strconv.Atoi(row[4])
		}
		if int(c.BodyField) != wantField {
			t.Errorf("%s body field %d, reference says %d", row[1], c.BodyField, wantField)
		}
	}
	if got := len(improto.Commands()); got != len(rows)+3 {
		t.Errorf("table has %d commands, reference %d plus 3 imbot extensions", got, len(rows))
	}
}

func TestCommandBodies(t *testing.T) {
	c, ok := improto.CommandForRoute("/v3/conversation/mark_read")
	if !ok || c.Cmd != improto.IMCMD_MARK_CONVERSATION_READ_V3 {
		t.Fatalf("v3 mark_read route: %v %v", c, ok)
	}
	in := &improto.MarkConversationReadRequestBody{ReadMessageIndex: proto.Int64(7)}
	body, ok := c.NewRequestBody(in)
	if !ok || body.GetMarkConversationReadBody() != in {
		t.Fatalf("2002 must use field 604: %v", body)
	}
	if got := c.RequestBodyMessage(body); got != in {
		t.Fatalf("RequestBodyMessage = %v", got)
	}
	if _, ok := c.NewRequestBody(&improto.SendMessageRequestBody{}); ok {
		t.Fatal("a body of the wrong type must be refused")
	}
	if got := c.RequestBodyMessage(&improto.RequestBody{}); got != nil {
		t.Fatalf("unset body: %v", got)
	}
	recall, _ := improto.LookupCommand(improto.IMCMD_RECALL_MESSAGE)
	if _, ok := recall.NewResponseBody(&improto.RecallMessageResponseBody{}); !ok {
		t.Fatal("recall has an (empty) response body")
	}
	for _, route := range []string{"v1/message/get_by_id", "v1/message/get_message_by_server_id"} {
		if c, _ := improto.CommandForRoute(route); c.Cmd != improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID {
			t.Errorf("%s serves %v", route, c.Cmd)
		}
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
	if err != nil {
		t.Fatalf("go tool -n protoc-gen-go: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(protoc, "--plugin=protoc-gen-go="+strings.TrimSpace(string(plugin)),
		"--go_out="+dir, "--go_opt=paths=source_relative", "im.proto", "frame.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	for _, name := range []string{"im.pb.go", "frame.pb.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./improto", name)
		}
	}
}

// TestUnknownFieldsSurvive checks the wire rule that unknown fields are
// skipped, and kept when a message is re-encoded.
func TestUnknownFieldsSurvive(t *testing.T) {
	b, err := proto.Marshal(&improto.MessageBody{ConversationId: proto.String("c"), Content: proto.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, 0xF8, 0x06, 0x01) // field 111, varint 1: unknown to every build
	var m improto.MessageBody
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	again, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(again, []byte{0xF8, 0x06, 0x01}) {
		t.Fatalf("unknown field lost: % x", again)
	}
}
