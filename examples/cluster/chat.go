package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/imbot-go/imbot/im"
)

// chat is the user's side of the demo: conversations with the bot, the
// messages sent to them, and the bot's replies.
type chat struct {
	client *im.Client
	convs  []im.ConversationRef

	mu      sync.Mutex
	replies map[string]int // the text each reply answered → how many replies it got
	changed chan struct{}  // closed and replaced on each reply
	sub     im.Subscription
}

// newChat logs in as user with opts and creates n group conversations
// with the bot.
func newChat(ctx context.Context, opts im.Options, n int) (*chat, error) {
	c := &chat{replies: make(map[string]int), changed: make(chan struct{})}
	client, err := im.New(opts)
	if err != nil {
		return nil, err
	}
	c.client = client
	c.sub = client.OnMessageReceived(c.received)
	if err := client.Init(ctx); err != nil {
		c.close()
		return nil, err
	}
	for i := range n {
		conv, err := client.CreateConversation(ctx, im.CreateConversationOptions{
			Type: im.ConversationTypeGroup, Participants: []im.UserID{botID}, Name: fmt.Sprint("room ", i+1)})
		if err != nil {
			c.close()
			return nil, err
		}
		c.convs = append(c.convs, conv.Ref())
	}
	return c, nil
}

// received counts a reply of the bot: "<replica>: <the text answered>".
func (c *chat) received(e im.MessageEvent) {
	if e.Message.Sender != botID {
		return
	}
	_, text, ok := strings.Cut(e.Message.Text(), ": ")
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies[text]++
	close(c.changed)
	c.changed = make(chan struct{})
}

// text is the text of the i-th message of the demo.
func text(i int) string { return fmt.Sprint("message ", i) }

// send sends the i-th message, to conversation i mod n.
func (c *chat) send(ctx context.Context, i int) error {
	_, err := c.client.SendMessage(ctx, c.convs[i%len(c.convs)], im.OutgoingMessage{Content: im.TextContent(text(i))})
	return err
}

// answered returns how many of the first n messages have a reply, how
// many replies there are beyond one per message, and a channel closed
// when another reply comes.
func (c *chat) answered(n int) (answered, extra int, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		if got := c.replies[text(i)]; got > 0 {
			answered++
			extra += got - 1
		}
	}
	return answered, extra, c.changed
}

func (c *chat) close() {
	c.sub.Unsubscribe()
	c.client.Close()
}
