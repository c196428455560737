package main

import (
	"bytes"
	"image"
	"image/png"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// chatWithBot runs the gallery bot on a test server and returns user
// 1001 and its chat with the bot.
func chatWithBot(t *testing.T) (*imtest.User, im.ConversationRef) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(newRouter())
	s.RunBot(t, b)
	alice := s.NewUser(t, userID)
	return alice, alice.CreateSingle(t, botID)
}

func TestChart(t *testing.T) {
	t.Parallel()
	alice, conv := chatWithBot(t)

	alice.Send(t, conv, "/chart 3 1 4 1 5")
	m := alice.WaitReply(t, conv)
	require.Equal(t, im.MessageTypeImage, m.Type)
	f, ok := m.File()
	require.True(t, ok)
	assert.Equal(t, "chart.png", f.Name)
	assert.Equal(t, "image/png", f.MimeType)
	img, err := png.Decode(bytes.NewReader(alice.Download(t, m)))
	require.NoError(t, err)
	want := image.Pt(2*margin+5*(barWidth+barGap)-barGap, chartTall+2*margin)
	assert.Equal(t, want, img.Bounds().Size())
	assert.Equal(t, [2]int{want.X, want.Y}, [2]int{f.Width, f.Height}, "the message says the picture's size")

	alice.Send(t, conv, "/chart three")
	assert.Equal(t, `"three" is not a number from 0 to 1e12; try "/chart 3 1 4 1 5"`, alice.WaitReply(t, conv).Text())
}

func TestDescribeImage(t *testing.T) {
	t.Parallel()
	alice, conv := chatWithBot(t)

	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 40, 30))))
	alice.SendFile(t, conv, im.FileInfo{Name: "grey.png"}, buf.Bytes())
	assert.Equal(t, "grey.png: png, 40×30 pixels, "+strconv.Itoa(buf.Len())+" bytes", alice.WaitReply(t, conv).Text())
}

// go run ./examples/gallery prints, once the bot is ready, the dev
// console link; a client logged in with what it printed gets a chart.
func TestRun(t *testing.T) {
	t.Parallel()
	s := devservertest.Serve(t, run)
	assert.True(t, strings.HasPrefix(s.Output, "gallery bot (user 100) ready; try /chart 3 1 4 1 5, or send it a picture.\n"), "output:\n%s", s.Output)
	_, reply := s.Ask(t, botID, "/chart 1 2")
	assert.Equal(t, im.MessageTypeImage, reply.Type, "the bot's answer: %s", reply.Content)
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	devservertest.Help(t, run, "gallery")
}
