package cron

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
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
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := unknownField(&doc, reflect.TypeFor[jobFile](), ""); err != nil {
		return nil, err
	}
	// The strict decode stays, the net under unknownField: it refuses
	// what the walk does not look at.
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

// unknownField returns an error for the first key of the YAML tree n
// that t, the Go type n decodes into, has no field for, or nil. The
// error says where the key is (the line; then the path, empty at the top,
// jobs[2] "standup" for the third job, which has id standup, and the
// nested fields) and which keys are known there, as the decoder's "field
// schedule not found in type cron.fileJob" does not:
//
//	line 4: jobs[2] "standup": unknown field "schedule" (known: id, spec, timezone, targets, message, missed, grace, enabled)
//
// Values of the wrong kind are left to the decoder.
func unknownField(n *yaml.Node, t reflect.Type, path string) error {
	w := fieldWalk{seen: make(map[nodeType]bool)}
	return w.walk(n, t, path)
}

// fieldWalk is one walk of unknownField. It checks each node for each
// type once: an alias repeats a checked subtree, or contains itself.
type fieldWalk struct{ seen map[nodeType]bool }

type nodeType struct {
	n *yaml.Node
	t reflect.Type
}

func (w fieldWalk) walk(n *yaml.Node, t reflect.Type, path string) error {
	n = resolveAlias(n)
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = resolveAlias(n.Content[0])
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if w.seen[nodeType{n, t}] {
		return nil
	}
	w.seen[nodeType{n, t}] = true
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		names, types := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if k.Tag == "!!merge" { // <<: *defaults, or <<: [*a, *b], merges mappings' keys
				merged := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					if err := w.walk(m, t, path); err != nil {
						return err
					}
				}
				continue
			}
			ft, ok := types[k.Value]
			if !ok {
				where := ""
				if path != "" {
					where = path + ": "
				}
				return fmt.Errorf("line %d: %sunknown field %q (known: %s)", k.Line, where, k.Value, strings.Join(names, ", "))
			}
			sub := k.Value
			if path != "" {
				sub = path + ": " + k.Value
			}
			if err := w.walk(v, ft, sub); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			at := fmt.Sprintf("%s[%d]", path, i)
			if id := mappingValue(item, "id"); id != "" {
				at += fmt.Sprintf(" %q", id)
			}
			if err := w.walk(item, t.Elem(), at); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields returns the keys that struct type t decodes, in its order,
// and the type of each.
func yamlFields(t reflect.Type) ([]string, map[string]reflect.Type) {
	var names []string
	types := make(map[string]reflect.Type)
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

// mappingValue returns the scalar value of key in the mapping n, or "".
func mappingValue(n *yaml.Node, key string) string {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1]); k.Value == key && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

// resolveAlias returns the node that n, an alias (*name), stands for, or n.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
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
