// Command gallery is a bot that sends and reads pictures. It runs on the
// embedded IM server:
//
//	go run ./examples/gallery [-addr 127.0.0.1:0]
//
// "/chart 3 1 4 1 5" answers with a bar chart of the numbers, a PNG drawn
// with the standard library and uploaded from memory; an image sent to the
// bot is answered with its type, size in pixels and bytes, as the bot
// reads them from the downloaded file. Once the bot is ready it prints a
// link to the dev console, logged in as user 1001, where you can attach a
// picture; Ctrl-C stops it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // the formats an image sent to the bot is read in
	_ "image/jpeg"
	"image/png"
	"io"
	"strconv"
	"strings"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/router"
)

const (
	botID  im.UserID = 100  // the gallery bot's user
	userID im.UserID = 1001 // the user the connect info is for
)

// maxBars bounds a chart, so that a long message cannot ask for a huge
// picture.
const maxBars = 50

func newRouter() *router.Router {
	r := router.New()
	r.OnCommand("/chart [numbers:rest]", chartCommand, router.Name("chart"))
	r.OnFile(describeImage, im.FileTypeImage)
	return r
}

// chartCommand answers /chart with a bar chart of its numbers.
func chartCommand(c *bot.Context) error {
	values, err := parseNumbers(c.Param("numbers"))
	if err != nil {
		_, err := c.Reply(err.Error() + `; try "/chart 3 1 4 1 5"`)
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, chart(values)); err != nil {
		return err
	}
	_, err = c.ReplyFile(im.Upload{File: im.FileInfo{Name: "chart.png"}, Body: &buf})
	return err
}

// parseNumbers reads the numbers of a /chart command: 1 to maxBars of
// them, none negative.
func parseNumbers(s string) ([]float64, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > maxBars {
		return nil, fmt.Errorf("a chart takes 1 to %d numbers", maxBars)
	}
	values := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v > 1e12 {
			return nil, fmt.Errorf("%q is not a number from 0 to 1e12", f)
		}
		values[i] = v
	}
	return values, nil
}

// Chart geometry, in pixels.
const (
	barWidth  = 24
	barGap    = 8
	chartTall = 160
	margin    = 12
)

// chart draws values as bars scaled to the largest one.
func chart(values []float64) *image.RGBA {
	w := 2*margin + len(values)*(barWidth+barGap) - barGap
	img := image.NewRGBA(image.Rect(0, 0, w, chartTall+2*margin))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	bar := image.NewUniform(color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff})
	for i, v := range values {
		h := 1
		if top > 0 {
			h = max(1, int(v/top*chartTall))
		}
		x := margin + i*(barWidth+barGap)
		draw.Draw(img, image.Rect(x, margin+chartTall-h, x+barWidth, margin+chartTall), bar, image.Point{}, draw.Src)
	}
	return img
}

// describeImage answers an image with what it is, read from the file
// itself rather than from what the sender said of it.
func describeImage(c *bot.Context) error {
	f, _ := c.Event.Message.File()
	body, err := c.Client().OpenFile(c.Context(), c.Event.Message)
	if err != nil {
		return err
	}
	defer body.Close()
	var n countingReader
	n.r = body
	cfg, format, err := image.DecodeConfig(&n)
	if err != nil {
		_, err := c.Reply(fmt.Sprintf("%s does not read as an image (%v)", nameOr(f.Name), err))
		return err
	}
	if _, err := io.Copy(io.Discard, &n); err != nil {
		return err
	}
	_, err = c.Reply(fmt.Sprintf("%s: %s, %d×%d pixels, %d bytes", nameOr(f.Name), format, cfg.Width, cfg.Height, n.n))
	return err
}

func nameOr(name string) string {
	if name == "" {
		return "your image"
	}
	return name
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func main() { devserver.Main("gallery", run) }

// run serves the gallery bot on the development server until ctx ends,
// printing how to talk to it as user 1001 once it is ready; -h prints
// the usage on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return devserver.Run(flag.NewFlagSet("gallery", flag.ContinueOnError), args, stderr, func(srv *devserver.Server) error {
		b, err := bot.New(srv.BotOptions(botID))
		if err != nil {
			return err
		}
		b.Handle(newRouter())
		return srv.RunBot(ctx, b, devserver.RunOptions{Out: stdout, User: userID,
			Intro: fmt.Sprintf("gallery bot (user %d) ready; try /chart 3 1 4 1 5, or send it a picture.", botID)})
	})
}
