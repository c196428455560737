package cron

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/router"
)

// AdminCommand is the command spec of the admin routes.
const AdminCommand = "/cron <action> [job]"

const adminUsage = "usage: /cron list | pause <job> | resume <job> | run <job>"

// AdminRoutes returns the admin commands as a route set for a router,
// r.Group(p.AdminRoutes(admins...)):
//
//	/cron list          the jobs, each with its next run or "paused"
//	/cron pause <job>   Pause
//	/cron resume <job>  Resume
//	/cron run <job>     post the job's message now, once
//
// Only the users in admins may use them; anyone else is answered "not
// allowed". The answers go to the conversation of the command. A run's
// messages carry a key made from the command's message, so that replicas
// that all handle the command post once, and its Occurrence.Time is the
// time of the command; it is not a scheduled occurrence, and leaves the
// job's last run alone. The bot's own messages are ignored.
func (p *Plugin) AdminRoutes(admins ...im.UserID) func(r *router.Router) {
	admins = slices.Clone(admins)
	return func(r *router.Router) {
		r.OnCommand(AdminCommand, func(c *bot.Context) error {
			if !c.FromUser() {
				return nil
			}
			if !slices.Contains(admins, c.Event.Message.Sender) {
				_, err := c.Reply("not allowed")
				return err
			}
			_, err := c.Reply(p.admin(c))
			return err
		})
	}
}

// admin carries out an admin's command and returns the answer.
func (p *Plugin) admin(c *bot.Context) string {
	action, id := c.Param("action"), c.Param("job")
	if action == "list" {
		return p.listing()
	}
	if id == "" || !slices.Contains([]string{"pause", "resume", "run"}, action) {
		return adminUsage
	}
	var err error
	switch action {
	case "pause":
		err = p.Pause(id)
	case "resume":
		err = p.Resume(id)
	case "run":
		e := p.job(id)
		if e == nil {
			err = fmt.Errorf("%w: %q", ErrUnknownJob, id)
			break
		}
		m := c.Event.Message
		o := Occurrence{Job: id, Time: p.opts.Clock.Now().In(e.loc),
			Key: hashKey(id, "run", string(m.ConversationID), m.ServerID.String())}
		posted, targets := p.post(c.Context(), c.Bot(), e, o)
		return fmt.Sprintf("ran %s: posted to %d of %d conversations", id, posted, targets)
	}
	if errors.Is(err, ErrUnknownJob) {
		return fmt.Sprintf("no job %q", id)
	}
	return action + "d " + id // paused, resumed
}

// listing describes the jobs, one a line.
func (p *Plugin) listing() string {
	jobs := p.Jobs()
	if len(jobs) == 0 {
		return "no jobs"
	}
	var b strings.Builder
	for i, j := range jobs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s (%s): ", j.ID, j.Spec)
		if j.Paused {
			b.WriteString("paused")
		} else {
			b.WriteString("next " + j.Next.Format(time.DateTime+" MST"))
		}
	}
	return b.String()
}
