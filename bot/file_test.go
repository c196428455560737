package bot_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// A handler replies with a file through the outbound queue; the user
// downloads the same bytes. A file the user sends reaches the handler,
// which reads it from the message and downloads it too.
func TestReplyFile(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	report := []byte("id,total\n1,42\n")
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage {
			return nil
		}
		if f, ok := c.Event.Message.File(); ok {
			body, err := c.Client().OpenFile(c.Context(), c.Event.Message)
			if err != nil {
				return err
			}
			defer body.Close()
			var got bytes.Buffer
			_, _ = got.ReadFrom(body)
			_, err = c.Reply(fmt.Sprintf("%s %s %d bytes, read %d", f.Type, f.MimeType, f.Size, got.Len()))
			return err
		}
		_, err := c.ReplyFile(im.Upload{File: im.FileInfo{Name: "report.csv"}, Body: bytes.NewReader(report)})
		return err
	}))
	s.RunBot(t, b)
	u := s.NewUser(t, 1)
	conv := u.CreateGroup(t, botID)

	u.Send(t, conv, "the report, please")
	m := u.WaitReply(t, conv)
	require.Equal(t, im.MessageTypeFile, m.Type)
	f, ok := m.File()
	require.True(t, ok)
	assert.Equal(t, "report.csv", f.Name)
	assert.Equal(t, report, u.Download(t, m))

	u.SendFile(t, conv, im.FileInfo{Name: "a.txt"}, []byte("hello"))
	assert.Equal(t, "object text/plain 5 bytes, read 5", u.WaitReply(t, conv).Text())
}

// Bot.SendFile refuses a message that brings its own content.
func TestSendFileOwnContent(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	_, err := b.SendFile(t.Context(), im.ConversationRef{}, im.Upload{Body: bytes.NewReader(nil)}, im.OutgoingMessage{Content: "{}"})
	require.Error(t, err)
}
