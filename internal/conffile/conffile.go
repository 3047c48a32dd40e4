// Package conffile reads the YAML configuration file (--config) of the
// gatehouse commands and of gatehouse-pdp, and applies it below the flags and
// the environment. It imports the YAML parser and the standard library
// only: gatehouse-pdp, which links none of the server's packages, reads the
// same files with it.
package conffile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The --config flag, declared here for the server's settings
// (internal/config) and for the PDP's command (internal/pdpcmd) alike.
const (
	Flag = "config"
	Env  = "GATEHOUSE_SERVER_CONFIG"
	Help = "a YAML file of settings whose keys are the flag names (flags and GATEHOUSE_* variables override it)"
)

// Entry is one key of a configuration file: its value in the textual
// form a flag or an environment variable takes (a list joined by commas, a
// map as k=v pairs joined by commas) and the line it is on.
type Entry struct {
	Key, Value string
	Line       int
	// Map is set when the value was a mapping (name: value pairs), List
	// when it was a list.
	Map, List bool
}

// File is a configuration file read by ReadFile.
type File struct {
	Path    string
	Entries []Entry
	// Mode is the file's permission bits.
	Mode fs.FileMode
}

// ReadFile reads a YAML configuration file: a mapping whose keys are flag
// names (without dashes) and whose values are scalars, lists or (for a map
// setting such as region-urls) mappings of scalars. Anything else is an
// error naming the key and its line.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	f, err := ParseFile(path, b)
	if err != nil {
		return nil, err
	}
	f.Mode = st.Mode().Perm()
	return f, nil
}

// ParseFile parses the YAML text b of the configuration file named path.
func ParseFile(path string, b []byte) (*File, error) {
	f := &File{Path: path}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, nil // an empty file sets nothing
		}
		return nil, fmt.Errorf("%s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// A second document (after ---) would be read by no one: say so
	// rather than drop its settings (and the check of its credentials).
	var more yaml.Node
	if err := dec.Decode(&more); err == nil && (len(more.Content) > 0 && !(more.Content[0].Kind == yaml.ScalarNode && more.Content[0].Tag == "!!null")) {
		return nil, fmt.Errorf("%s:%d: a second YAML document (after ---): put every setting in one document", path, more.Line)
	} else if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return f, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return f, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values (addr: 127.0.0.1:8080)", path, root.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: a key must be a flag name", path, k.Line)
		}
		key := strings.TrimPrefix(k.Value, "--")
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set twice (first on line %d)", path, k.Line, key, prev)
		}
		seen[key] = k.Line
		val, err := textOf(v)
		if err != nil {
			line := v.Line
			var at *atLine
			if errors.As(err, &at) {
				line = at.line
			}
			return nil, fmt.Errorf("%s:%d: %s: %v", path, line, key, err)
		}
		kind := v.Kind
		for n := v; n.Kind == yaml.AliasNode && n.Alias != nil; n = n.Alias {
			kind = n.Alias.Kind // what an alias stands for
		}
		f.Entries = append(f.Entries, Entry{Key: key, Value: val, Line: k.Line, Map: kind == yaml.MappingNode, List: kind == yaml.SequenceNode})
	}
	return f, nil
}

// atLine is an error about the value on a line of its own.
type atLine struct {
	line int
	msg  string
}

func (e *atLine) Error() string { return e.msg }

// textOf is a YAML value in the textual form of a flag.
func textOf(v *yaml.Node) (string, error) {
	switch v.Kind {
	case yaml.AliasNode:
		return textOf(v.Alias)
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", nil
		}
		return v.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return "", &atLine{item.Line, "a list may hold only single values"}
			}
			if strings.Contains(item.Value, ",") {
				return "", &atLine{item.Line, fmt.Sprintf("list item %q holds a comma", item.Value)}
			}
			parts = append(parts, item.Value)
		}
		return strings.Join(parts, ","), nil
	case yaml.MappingNode:
		parts := make([]string, 0, len(v.Content)/2)
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
				return "", &atLine{val.Line, "a map may hold only name: value pairs"}
			}
			if strings.ContainsAny(k.Value+val.Value, ",=") {
				return "", &atLine{k.Line, fmt.Sprintf("map entry %s: %s holds a comma or =", k.Value, val.Value)}
			}
			parts = append(parts, k.Value+"="+val.Value)
		}
		return strings.Join(parts, ","), nil
	}
	return "", errors.New("want a value")
}

// Target is where a configuration file key goes: Set stores its value,
// Env is the variable that outranks the file ("" for none) and Changed
// reports whether a command-line flag, which outranks both, set it.
type Target struct {
	Set     func(string) error
	Env     string
	Changed func() bool
	// Secret reports whether the value is a credential.
	Secret func(string) bool
	// TakesMap accepts a mapping (name: value pairs, as name=value,...).
	TakesMap bool
	// TakesList accepts a list (as a,b,...).
	TakesList bool
}

// Apply sets each entry of f into its target, unless a flag or the
// environment already set it: flag > environment > file > default. A key
// with no target is an error naming the key and its line; so is a value
// its target refuses. It returns the keys whose values are credentials.
func (f *File) Apply(targets map[string]Target, getenv func(string) string) (secrets []string, err error) {
	for _, e := range f.Entries {
		t, ok := targets[e.Key]
		if !ok {
			return nil, fmt.Errorf("%s:%d: unknown key %q (the keys are this command's flag names: %s)", f.Path, e.Line, e.Key, strings.Join(keys(targets), ", "))
		}
		if e.Map && !t.TakesMap {
			return nil, fmt.Errorf("%s:%d: %s: want a single value or a list, not a mapping", f.Path, e.Line, e.Key)
		}
		if e.List && !t.TakesList {
			return nil, fmt.Errorf("%s:%d: %s: want a single value, not a list", f.Path, e.Line, e.Key)
		}
		if t.Secret != nil && t.Secret(e.Value) {
			secrets = append(secrets, e.Key)
		}
		if t.Changed != nil && t.Changed() || t.Env != "" && getenv(t.Env) != "" {
			continue
		}
		if err := t.Set(e.Value); err != nil {
			return nil, fmt.Errorf("%s:%d: %s %q: %v", f.Path, e.Line, e.Key, e.Value, err)
		}
	}
	return secrets, nil
}

// Exposed reports why a file is too open to hold credentials: users
// other than its owner and group may read or change it, or its group may
// change it. Windows has no such mode bits: nothing is reported there.
func (f *File) Exposed() string {
	if runtime.GOOS == "windows" {
		return ""
	}
	if f.Mode&0o007 != 0 {
		return fmt.Sprintf("its mode %04o lets every user of the machine read or change it", f.Mode)
	}
	if f.Mode&0o020 != 0 {
		return fmt.Sprintf("its mode %04o lets its group change it", f.Mode)
	}
	return ""
}

func keys(m map[string]Target) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
