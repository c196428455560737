package imserver

import (
	"bytes"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.Len(t, rec.writes, 1, "writes outside a burst")
	c.hold()
	_, _ = c.Write([]byte("b"))
	_, _ = c.Write([]byte("c"))
	require.Len(t, rec.writes, 1, "during a burst, writes reached the connection")
	require.NoError(t, c.release())
	require.Equal(t, [][]byte{[]byte("a"), []byte("bc")}, rec.writes, "release must make one write of %q", "bc")
	c.hold()
	_, _ = c.Write(make([]byte, maxBatch+1))
	// len, not Len: Len would print the maxBatch bytes.
	require.Equal(t, 3, len(rec.writes), "a burst past maxBatch was not written as it filled (writes)")
	require.NoError(t, c.release(), "release after a full flush")
	require.Equal(t, 3, len(rec.writes), "writes after release after a full flush")
}
