package cron

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// jobFile is the layout of a jobs file; doc.go shows it.
type jobFile struct {
	Jobs []fileJob `yaml:"jobs" json:"jobs"`
}

// fileJob is a Job as files write it: durations and policies as text,
// enabled rather than disabled.
type fileJob struct {
	ID       string  `yaml:"id" json:"id"`
	Spec     string  `yaml:"spec" json:"spec"`
	TimeZone string  `yaml:"timezone" json:"timezone"`
	Targets  Targets `yaml:"targets" json:"targets"`
	Message  Message `yaml:"message" json:"message"`
	Missed   string  `yaml:"missed" json:"missed"`
	Grace    string  `yaml:"grace" json:"grace"`
	Enabled  *bool   `yaml:"enabled" json:"enabled"`
}

// LoadFile reads jobs from a YAML (.yaml, .yml) or JSON (.json) file,
// as ParseYAML and ParseJSON do. Errors name the file; those about a job
// are *JobError.
func LoadFile(path string) ([]Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cron: %w", err)
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		return wrapFile(path)(parseYAML(data))
	case ".json":
		return wrapFile(path)(parseJSON(data))
	default:
		return nil, fmt.Errorf("cron: %s: unknown extension %q: want .yaml, .yml or .json", path, ext)
	}
}

// ParseYAML reads jobs from YAML, laid out as the package documentation
// shows, and checks them as New does. Unknown fields are errors.
func ParseYAML(data []byte) ([]Job, error) { return wrapFile("")(parseYAML(data)) }

// ParseJSON reads jobs from JSON, laid out as the YAML the package
// documentation shows, and checks them as New does. Unknown fields are
// errors.
func ParseJSON(data []byte) ([]Job, error) { return wrapFile("")(parseJSON(data)) }

// wrapFile returns a func that gives the errors of a parse the package's
// prefix and the file's name.
func wrapFile(file string) func([]Job, error) ([]Job, error) {
	return func(jobs []Job, err error) ([]Job, error) {
		if err == nil {
			return jobs, nil
		}
		if je, ok := errors.AsType[*JobError](err); ok {
			je.File = file
			return nil, je
		}
		if file != "" {
			return nil, fmt.Errorf("cron: %s: %w", file, err)
		}
		return nil, fmt.Errorf("cron: %w", err)
	}
}

func parseYAML(data []byte) ([]Job, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f jobFile
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return f.jobs()
}

func parseJSON(data []byte) ([]Job, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f jobFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	return f.jobs()
}

// jobs converts and checks the file's jobs.
func (f *jobFile) jobs() ([]Job, error) {
	jobs := make([]Job, len(f.Jobs))
	for i, fj := range f.Jobs {
		job := Job{ID: fj.ID, Spec: fj.Spec, TimeZone: fj.TimeZone, Targets: fj.Targets, Message: fj.Message,
			Disabled: fj.Enabled != nil && !*fj.Enabled}
		fail := func(field string, err error) error {
			return &JobError{Job: jobName(fj.ID, i+1), Field: field, Err: err}
		}
		var err error
		if job.Missed, err = parseMissed(fj.Missed); err != nil {
			return nil, fail("missed", err)
		}
		if fj.Grace != "" {
			if job.Grace, err = time.ParseDuration(fj.Grace); err != nil {
				return nil, fail("grace", err)
			}
		}
		if _, err := compile(job, i+1); err != nil {
			return nil, err
		}
		jobs[i] = job
	}
	return jobs, nil
}
