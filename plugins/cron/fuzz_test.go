package cron_test

import (
	"testing"

	"github.com/imbot-go/imbot/plugins/cron"
)

// Jobs files are user input: parsing one never panics, whatever it holds.
func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(goodYAML))
	for _, spec := range []string{"TZ=UTC", "CRON_TZ=", "@every", "@every -1s", "*/0 * * * *", "0 0 30 2 *", "1-", "-", "/", "* * * * * * *"} {
		f.Add([]byte("jobs:\n  - {id: x, spec: '" + spec + "', targets: {all_groups: true}, message: {text: hi}}\n"))
	}
	f.Add([]byte("jobs: [{id: x, spec: '@daily', targets: {all_groups: true}, message: {text: '{{.Time.Format \"15:04\"}} {{.Nope}}'}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if jobs, err := cron.ParseYAML(data); err == nil {
			_, _ = cron.New(cron.Options{Jobs: jobs}) // duplicates and specs that never fire are its to find
		}
	})
}
