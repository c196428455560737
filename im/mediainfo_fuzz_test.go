package im

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzMediaDuration feeds arbitrary bytes, as an upload's, to the
// readers of WAV and MP4 headers: they must answer a duration that is
// not negative, or 0, and never panic or walk without bound.
func FuzzMediaDuration(f *testing.F) {
	wav := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x10\x00\x00\x00")
	f.Add(append(wav, make([]byte, 16)...))
	mvhd := make([]byte, 108)
	binary.BigEndian.PutUint32(mvhd[0:], 108)
	copy(mvhd[4:], "mvhd")
	binary.BigEndian.PutUint32(mvhd[20:], 1000)
	binary.BigEndian.PutUint32(mvhd[24:], 2500)
	moov := append(binary.BigEndian.AppendUint32(nil, uint32(8+len(mvhd))), "moov"...)
	f.Add(append([]byte("\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"), append(moov, mvhd...)...))
	f.Add([]byte("\x00\x00\x00\x01ftyp\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if d := mediaDuration(bytes.NewReader(data), int64(len(data))); d < 0 {
			t.Fatalf("negative duration %v", d)
		}
	})
}

// FuzzMessageFile feeds arbitrary content to Message.File: it must not
// panic, and what it reads must render again.
func FuzzMessageFile(f *testing.F) {
	good, _ := FileInfo{Type: FileTypeImage, URL: "u", Key: "k", Width: 3, Duration: 1}.Content()
	for _, s := range []string{good, `{"__files":{"file":{"remoteURL":"u","ext":{"s:file_ext_key_file_size":"9e99"}}}}`, "{", `{"__files":null}`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		for _, typ := range []MessageType{MessageTypeImage, MessageTypeFile, MessageTypeAudio} {
			fi, ok := (&Message{Type: typ, Content: content}).File()
			if !ok {
				continue
			}
			if _, err := fi.Content(); err != nil {
				t.Fatalf("File read %+v from %q, which does not render: %v", fi, content, err)
			}
		}
	})
}
