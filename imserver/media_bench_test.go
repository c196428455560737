package imserver_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/blob"
)

// BenchmarkMediaTransfer uploads and downloads a 10 MB file through the
// server (blob.NewDir) and through a bare net/http handler that copies
// the body to a file and serves it with http.ServeFile, on loopback in
// the same run, and reports both throughputs and their ratios. Every
// server upload is a new file (the first bytes differ), so that nothing is
// deduplicated.
//
//	go test -run XXX -bench MediaTransfer -benchtime 20x ./imserver/
func BenchmarkMediaTransfer(b *testing.B) {
	const size = 10 << 20
	dir := b.TempDir()
	blobs, err := blob.NewDir(filepath.Join(dir, "blobs"))
	require.NoError(b, err)
	e := newEnv(b, withBlobs(blobs), unlimited)
	bareFile := filepath.Join(dir, "bare")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			http.ServeFile(w, r, bareFile)
			return
		}
		f, err := os.CreateTemp(dir, "bare-*")
		if err == nil {
			_, err = io.Copy(f, r.Body)
			err = errors.Join(err, f.Sync(), f.Close(), os.Rename(f.Name(), bareFile))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	b.Cleanup(bare.Close)
	data := randomBytes(b, size)
	transfer := func(method, url string, body []byte) time.Duration {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, url, r)
		require.NoError(b, err)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode)
		if method == http.MethodGet {
			require.EqualValues(b, size, n)
		}
		return d
	}
	var bareUp, bareDown, srvUp, srvDown time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		copy(data, fmt.Sprintf("%016d", i))
		bareUp += transfer(http.MethodPost, bare.URL, data)
		bareDown += transfer(http.MethodGet, bare.URL, nil)

		b.StopTimer()
		tok := e.uploadToken(1, size, "application/octet-stream")
		b.StartTimer()
		srvUp += transfer(http.MethodPost, e.hs.URL+"/"+tok.GetUploadUrl(), data)
		b.StopTimer()
		key := blobKey(data)
		u := mediaURLs(b, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0].GetUrl()
		b.StartTimer()
		srvDown += transfer(http.MethodGet, e.hs.URL+"/"+u, nil)
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * size / (1 << 20) / d.Seconds() }
	b.ReportMetric(mbps(bareUp), "bare-up-MB/s")
	b.ReportMetric(mbps(srvUp), "server-up-MB/s")
	b.ReportMetric(mbps(bareDown), "bare-down-MB/s")
	b.ReportMetric(mbps(srvDown), "server-down-MB/s")
	b.ReportMetric(bareUp.Seconds()/srvUp.Seconds(), "up-ratio")
	b.ReportMetric(bareDown.Seconds()/srvDown.Seconds(), "down-ratio")
}

func blobKey(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
