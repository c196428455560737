package imserver

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTypeMatches sniffs the first bytes of real formats as an upload
// does and checks which declared types they may be stored as: aliases
// and formats on a known container pass, images stay strict.
func TestTypeMatches(t *testing.T) {
	t.Parallel()
	var (
		wav  = "RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
		ogg  = "OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"
		zip  = "PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"
		mp4  = "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
		jpeg = "\xff\xd8\xff\xe0\x00\x10JFIF\x00"
		png  = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
		mp3  = "ID3\x03\x00\x00\x00\x00\x00\x00"
	)
	for _, tc := range []struct {
		content, declared string
		want              bool
	}{
		{wav, "audio/wave", true},
		{wav, "audio/wav", true},
		{wav, "audio/x-wav", true},
		{wav, "audio/ogg", false},
		{ogg, "application/ogg", true},
		{ogg, "audio/ogg", true},
		{ogg, "video/ogg", true},
		{ogg, "audio/wav", false},
		{mp4, "video/mp4", true},
		{mp4, "audio/mp4", true},
		{mp3, "audio/mpeg", true},
		{mp3, "audio/mp3", true},
		{zip, "application/zip", true},
		{zip, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true},
		{zip, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", true},
		{zip, "application/vnd.openxmlformats-officedocument.presentationml.presentation", true},
		{zip, "application/vnd.oasis.opendocument.text", true},
		{zip, "application/java-archive", true},
		{zip, "application/vnd.android.package-archive", true},
		{zip, "application/epub+zip", true},
		{zip, "image/png", false},
		{zip, "text/plain", false},
		{jpeg, "image/jpeg", true},
		{jpeg, "image/jpg", true},
		{jpeg, "image/png", false},
		{png, "image/jpg", false},
		{png, "image/png", true},
		{wav, "image/png", false},
		{"plain words", "audio/wav", false},
	} {
		sniffed := http.DetectContentType([]byte(tc.content))
		assert.Equal(t, tc.want, typeMatches(tc.declared, sniffed), "%s sniffed as %s", tc.declared, sniffed)
	}
}
