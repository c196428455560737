package router

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// fileEvent is a message event carrying f.
func fileEvent(t *testing.T, f im.FileInfo) bot.Event {
	t.Helper()
	content, err := f.Content()
	require.NoError(t, err)
	ev := msgEvent(content, group)
	ev.Message.Type = f.Type.MessageType()
	return ev
}

func TestFileMatcher(t *testing.T) {
	t.Parallel()
	img := fileEvent(t, im.FileInfo{Type: im.FileTypeImage, URL: "u", Name: "cat.png", Size: 2048, MimeType: "image/png"})
	doc := fileEvent(t, im.FileInfo{Type: im.FileTypeFile, URL: "u", Name: "a.pdf"})
	text := msgEvent(`{"text":"hi"}`, group)

	for _, tc := range []struct {
		m    Matcher
		ev   bot.Event
		want bool
	}{
		{File(im.FileTypeImage), img, true},
		{File(im.FileTypeImage), doc, false},
		{File(im.FileTypeImage, im.FileTypeFile), doc, true},
		{File(), img, true},
		{File(), doc, true},
		{File(), text, false},
	} {
		got, why := tc.m.Match(newCtx(tc.ev))
		assert.Equal(t, tc.want, got, "%v on a %v: %s", tc.m, tc.ev.Message.Type, why)
	}
	assert.Equal(t, "file(image)", File(im.FileTypeImage).(interface{ String() string }).String())
	defer func() {
		msg, _ := recover().(string)
		assert.Regexp(t, `^router: File: unknown file type "gif" \(at .*file_test\.go:\d+\)$`, msg, "an unknown file type panics, naming the caller")
	}()
	File("gif")
}

func TestOnFileAndExprFileFields(t *testing.T) {
	t.Parallel()
	r := New()
	var got []string
	r.OnFile(func(c *bot.Context) error {
		f, _ := c.Event.Message.File()
		got = append(got, "image "+f.Name)
		return nil
	}, im.FileTypeImage)
	require.NoError(t, r.OnExpr(`FileType == "object" && FileSize > 1000 && MimeType == "application/pdf" && FileName endsWith ".pdf"`, func(c *bot.Context) error {
		got = append(got, "big pdf")
		return nil
	}))
	for _, ev := range []bot.Event{
		fileEvent(t, im.FileInfo{Type: im.FileTypeImage, URL: "u", Name: "cat.png"}),
		fileEvent(t, im.FileInfo{Type: im.FileTypeFile, URL: "u", Name: "r.pdf", Size: 5000, MimeType: "application/pdf"}),
		fileEvent(t, im.FileInfo{Type: im.FileTypeFile, URL: "u", Name: "s.pdf", Size: 10, MimeType: "application/pdf"}),
		msgEvent(`{"text":"hi"}`, group),
	} {
		require.NoError(t, r.Handle(newCtx(ev)))
	}
	assert.Equal(t, []string{"image cat.png", "big pdf"}, got)
}
