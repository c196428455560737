package imserver_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store/bolt"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// mediaChildEnv names the data directory of a server child process
// (mediaChild), which TestMain runs instead of the tests.
const mediaChildEnv = "IMSERVER_TEST_MEDIA_CHILD"

// mediaChild serves a durable server (bolt store and blob.NewDir in the
// directory mediaChildEnv names) on a loopback port, prints "addr <addr>"
// and serves until it is killed.
func mediaChild() int {
	dir := os.Getenv(mediaChildEnv)
	st, err := bolt.Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	blobs, err := blob.NewDir(filepath.Join(dir, "media"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := imserver.New(imserver.Config{
		AppID: testAppID, AppSecret: testSecret, Store: st, Blobs: blobs,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("addr %s\n", ln.Addr())
	return exitCode(http.Serve(ln, srv))
}

func exitCode(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// startMediaChild runs mediaChild on dir and returns its address; the
// process is killed by t.Cleanup, or by the kill it returns.
func startMediaChild(t *testing.T, dir string) (addr string, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mediaChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	addrs := make(chan string, 1)
	go func() { // ends when the child exits
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
				addrs <- a
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	kill = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(kill)
	select {
	case addr = <-addrs:
	case <-exited:
		t.Fatal("server process exited before it listened")
	case <-time.After(waitFor):
		t.Fatal("server process not listening in time")
	}
	return addr, kill
}

// TestMediaKilledDuringUploads kills a durable server process while
// uploads are half received and restarts it on its data directory: every
// acknowledged file downloads with its bytes, and no partial file is
// stored or left behind.
func TestMediaKilledDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	t.Parallel()
	dir := t.TempDir()
	addr, kill := startMediaChild(t, dir)
	base := "http://" + addr
	user := &rawclient.Client{BaseURL: base, Token: imserver.MintToken(testAppID, 1, testSecret, time.Now().Add(time.Hour))}
	tokenFor := func(size int64) *improto.GetUploadTokenResponseBody {
		return call[*improto.GetUploadTokenResponseBody](t, user, improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
			FileSize: proto.Int64(size), MimeType: proto.String("application/octet-stream")})
	}

	acked := map[string][]byte{}
	for i := range 8 {
		data := randomBytes(t, 256<<10+i)
		tok := tokenFor(int64(len(data)))
		resp, err := http.Post(base+"/"+tok.GetUploadUrl(), "application/octet-stream", bytes.NewReader(data))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		sum := sha256.Sum256(data)
		acked[hex.EncodeToString(sum[:])] = data
	}

	const inFlight, size = 4, 4 << 20
	var pipes []*io.PipeWriter
	done := make(chan struct{}, inFlight)
	for range inFlight {
		tok := tokenFor(size)
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		go func() { // ends when the server dies or the pipe is closed
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequest(http.MethodPost, base+"/"+tok.GetUploadUrl(), pr)
			req.ContentLength = size
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		_, err := pw.Write(randomBytes(t, size/2))
		require.NoError(t, err)
	}
	tmp := filepath.Join(dir, "media", "tmp")
	require.Eventually(t, func() bool {
		left, err := os.ReadDir(tmp)
		return err == nil && len(left) == inFlight
	}, waitFor, 10*time.Millisecond, "every unfinished upload has its temporary file")
	kill()
	for _, pw := range pipes {
		pw.CloseWithError(io.ErrClosedPipe)
	}
	for range inFlight {
		<-done
	}

	addr, _ = startMediaChild(t, dir)
	user.BaseURL = "http://" + addr
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the restarted server removed the unfinished uploads")

	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	urls := mediaURLs(t, user, &improto.GetMediaUrlsRequestBody{FileKeys: keys})
	require.Len(t, urls, len(acked), "every acknowledged upload is still recorded")
	for _, u := range urls {
		resp, err := http.Get(user.BaseURL + "/" + u.GetUrl())
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, bytes.Equal(acked[u.GetFileKey()], got), "file %s has its bytes", u.GetFileKey())
	}

	stored := 0
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "media"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		assert.Equal(t, d.Name(), hex.EncodeToString(sum[:]), "a stored file is whole")
		stored++
		return nil
	}))
	assert.Equal(t, len(acked), stored, "only the acknowledged files are stored")
}
