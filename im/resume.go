package im

// ResumeFrom makes Init start the sync from cursor, as Options.Resume
// with Options.Cursor does, for a caller that learns its saved position
// only after New (a bot loads it when it runs). Call it before Init, not
// concurrently with Init or Options; it fails once Init was called.
func (c *Client) ResumeFrom(cursor int64) error {
	if c.started.Load() {
		return &Error{Type: ErrorTypeInvalidArgument, Msg: "ResumeFrom after Init"}
	}
	if cursor < 0 {
		return &Error{Type: ErrorTypeInvalidArgument, Msg: "ResumeFrom: cursor must not be negative"}
	}
	c.opts.Resume = true
	c.opts.Cursor = cursor
	return nil
}
