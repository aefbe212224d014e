// Package deploydigest computes the template parameter DeployDigest that
// `make deploy` passes: a SHA-256 over everything a deploy puts in place
// that SAM does not itself name a function version or an API deployment
// after. SAM hashes parameters unresolved (a changed setting or key epoch
// publishes nothing) and, once AutoPublishCodeSha256 is given, hashes
// nothing else (changed code publishes nothing): so the digest covers every
// parameter's value, the template, and the build's files. Equal inputs give
// an equal digest; nothing here calls AWS.
package deploydigest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"
)

// Parameter is the template parameter the digest is passed as; it is not
// itself digested.
const Parameter = "DeployDigest"

// Inputs are what a deploy deploys.
type Inputs struct {
	Template  string   // template.yaml
	Config    string   // samconfig.toml; "" or a missing file: no overrides
	ConfigEnv string   // its environment (SAM_CONFIG_ENV), default "default"
	BuildDir  string   // sam build's output (.aws-sam/build); "" or missing: not digested
	Overrides []string // the caller's K=V, which win over the config's
}

// Result is the digest and the parameter values it covers.
type Result struct {
	Digest string
	Values map[string]string // every parameter but DeployDigest
	Built  bool              // whether BuildDir's files were digested
}

// Compute reads the inputs and digests them.
func Compute(in Inputs) (Result, error) {
	tpl, err := os.ReadFile(in.Template)
	if err != nil {
		return Result{}, err
	}
	values, err := defaults(tpl)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", in.Template, err)
	}
	var overrides []string
	if in.Config != "" {
		fromConfig, err := configOverrides(in.Config, in.ConfigEnv)
		if err != nil {
			return Result{}, err
		}
		overrides = append(overrides, fromConfig...)
	}
	overrides = append(overrides, in.Overrides...)
	for _, o := range overrides {
		pairs, err := ParseOverrides(o)
		if err != nil {
			return Result{}, err
		}
		for _, p := range pairs {
			if p[0] == Parameter {
				continue // the digest's own slot: never an input
			}
			if _, ok := values[p[0]]; !ok {
				return Result{}, fmt.Errorf("parameter %s: the template has no such parameter", p[0])
			}
			values[p[0]] = p[1]
		}
	}

	h := sha256.New()
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "parameter %q=%q\n", n, values[n])
	}
	fmt.Fprintf(h, "template %x\n", sha256.Sum256(tpl))
	built := false
	if in.BuildDir != "" {
		if _, err := os.Stat(in.BuildDir); err == nil {
			built = true
			err := filepath.WalkDir(in.BuildDir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(in.BuildDir, path)
				fmt.Fprintf(h, "file %q %x\n", filepath.ToSlash(rel), sha256.Sum256(b))
				return nil
			})
			if err != nil {
				return Result{}, err
			}
		}
	}
	return Result{Digest: hex.EncodeToString(h.Sum(nil)), Values: values, Built: built}, nil
}

// Overrides is the result as one --parameter-overrides value: every
// parameter, and DeployDigest, so that the deploy sets each explicitly
// (the SAM CLI keeps a deployed stack's value for a parameter it is not
// given, which the digest could not know).
func (r Result) Overrides() string {
	names := make([]string, 0, len(r.Values))
	for n := range r.Values {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%s ", n, quote(r.Values[n]))
	}
	fmt.Fprintf(&b, "%s=%s", Parameter, r.Digest)
	return b.String()
}

// quote writes v as the SAM CLI reads a quoted override value.
func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

func defaults(tpl []byte) (map[string]string, error) {
	var doc struct {
		Parameters map[string]struct {
			Default yaml.Node `yaml:"Default"`
		} `yaml:"Parameters"`
	}
	// Only Parameters is decoded; the intrinsic tags elsewhere are skipped.
	var root yaml.Node
	if err := yaml.Unmarshal(tpl, &root); err != nil {
		return nil, err
	}
	if len(root.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "Parameters" {
			if err := top.Content[i+1].Decode(&doc.Parameters); err != nil {
				return nil, err
			}
		}
	}
	if len(doc.Parameters) == 0 {
		return nil, errors.New("no Parameters")
	}
	values := map[string]string{}
	for name, p := range doc.Parameters {
		if name == Parameter {
			continue
		}
		values[name] = p.Default.Value
	}
	return values, nil
}

// configOverrides is samconfig.toml's [env.deploy.parameters]
// parameter_overrides: a string of K=V pairs or a list of them.
func configOverrides(path, env string) ([]string, error) {
	if env == "" {
		env = "default"
	}
	var cfg map[string]map[string]map[string]map[string]any
	if _, err := toml.DecodeFile(path, &cfg); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch v := cfg[env]["deploy"]["parameters"]["parameter_overrides"].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: %s.deploy.parameters.parameter_overrides: %v is not a string", path, env, e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: %s.deploy.parameters.parameter_overrides is a %T", path, env, v)
	}
}

// ParseOverrides reads K=V pairs as the SAM CLI's --parameter-overrides
// takes them: separated by spaces, a value bare or in double quotes (with
// \" and \\ inside). Ours because the SAM CLI is Python and the format has
// no Go reader; only what samconfig.toml and PARAMS use is read.
func ParseOverrides(s string) ([][2]string, error) {
	var out [][2]string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq <= 0 {
			return nil, fmt.Errorf("parameter override %q: want Name=Value", s[i:])
		}
		key := s[i : i+eq]
		if strings.ContainsAny(key, " \t\"") {
			return nil, fmt.Errorf("parameter override %q: want Name=Value", s[i:])
		}
		i += eq + 1
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("parameter override %s: unclosed quote", key)
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				val.WriteByte(s[i])
				i++
			}
		}
		out = append(out, [2]string{key, val.String()})
	}
}
