package imserver

import (
	"bytes"
	"net"
	"testing"
)

// recordingConn is a net.Conn that keeps every Write it gets.
type recordingConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// TestBatchConnWritesABurstOnce checks that writes pass straight through
// outside a burst, collect during one and leave in one write at release,
// and that a burst past maxBatch is written as it fills.
func TestBatchConnWritesABurstOnce(t *testing.T) {
	rec := &recordingConn{}
	c := &batchConn{Conn: rec}
	_, _ = c.Write([]byte("a"))
	if len(rec.writes) != 1 {
		t.Fatalf("outside a burst: %d writes, want 1", len(rec.writes))
	}
	c.hold()
	_, _ = c.Write([]byte("b"))
	_, _ = c.Write([]byte("c"))
	if len(rec.writes) != 1 {
		t.Fatalf("during a burst: %d writes reached the connection", len(rec.writes)-1)
	}
	if err := c.release(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 2 || string(rec.writes[1]) != "bc" {
		t.Fatalf("release wrote %q, want one write of %q", rec.writes[1:], "bc")
	}
	c.hold()
	_, _ = c.Write(make([]byte, maxBatch+1))
	if len(rec.writes) != 3 {
		t.Fatalf("a burst past maxBatch was not written as it filled (%d writes)", len(rec.writes))
	}
	if err := c.release(); err != nil || len(rec.writes) != 3 {
		t.Fatalf("release after a full flush: %v, %d writes", err, len(rec.writes))
	}
}
