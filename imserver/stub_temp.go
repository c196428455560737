package imserver

import "github.com/imbot-go/imbot/improto"

// errNotServed answers a command whose handler is not written yet.
func errNotServed(c *call) error {
	return errStatus(improto.StatusCode_INVALID_CMD, "%v is not served yet", c.cmd.Cmd)
}
