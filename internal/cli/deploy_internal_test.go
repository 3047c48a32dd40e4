package cli

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/cmdkit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/pdpcmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// TestDeployFiles checks deploy/compose.yaml, deploy/gatehouse.yaml and the
// Dockerfile against the program (no container is started: that needs
// Docker): every gatehouse command line uses a command and flags that
// exist, every GATEHOUSE_ variable is one the program reads, the
// configuration file loads into serve, and the image is built the way the
// Makefile builds a release.
func TestDeployFiles(t *testing.T) {
	t.Parallel()
	root, err := newRoot(context.Background(), func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	envs := map[string]bool{}
	for _, s := range config.Settings {
		envs[s.Env] = true
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if e := f.Annotations[cmdkit.EnvAnnotation]; len(e) == 1 {
				envs[e[0]] = true
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)

	b, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Entrypoint  []string          `yaml:"entrypoint"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Profiles    []string          `yaml:"profiles"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	count := map[string]int{}
	for name, svc := range compose.Services {
		if svc.Image != "gatehouse:local" {
			count[strings.Split(svc.Image, ":")[0]]++
			continue
		}
		if len(svc.Command) == 0 {
			t.Errorf("%s: no command", name)
			continue
		}
		cmd, rest, err := root.Find(svc.Command)
		args := svc.Command[1:]
		switch strings.Join(svc.Entrypoint, " ") {
		case "": // the image's: gatehouse
		case "/usr/local/bin/gatehouse-pdp": // its flags are gatehouse pdp's
			cmd, rest, err = pdpcmd.Command(context.Background(), "gatehouse-pdp", func(string) string { return "" }, io.Discard), svc.Command, nil
			args = svc.Command
		default:
			t.Errorf("%s: entrypoint %q is neither gatehouse nor gatehouse-pdp", name, svc.Entrypoint)
			continue
		}
		if err != nil || cmd == root {
			t.Errorf("%s: no command %q: %v", name, svc.Command[0], err)
			continue
		}
		count[cmd.Name()]++
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			t.Errorf("%s: unexpected argument %q", name, rest[0])
		}
		if err := cmd.ParseFlags(args); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for k := range svc.Environment {
			if strings.HasPrefix(k, config.EnvPrefix) && !envs[k] {
				t.Errorf("%s: %s is no variable gatehouse reads", name, k)
			}
		}
	}
	for what, want := range map[string]int{"serve": 3, "init": 1, "gatehouse-pdp": 1, "postgres": 1, "redis": 1} {
		if count[what] != want {
			t.Errorf("compose.yaml: %d %s services, want %d (%v)", count[what], what, want, count)
		}
	}

	// the shared configuration file loads into serve's flags (it holds no
	// secret: it may be readable by anyone)
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.ConfigFile = "../../deploy/gatehouse.yaml"
	if err := applyConfigFile(serve, &cfg, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatalf("deploy/gatehouse.yaml: %v", err)
	}
	if n, r := serve.Flags().Lookup("rate-limit-nodes").Value.String(), serve.Flags().Lookup("redis-url").Value.String(); n != "3" || r == "" {
		t.Errorf("deploy/gatehouse.yaml did not apply: rate-limit-nodes %s, redis-url %q", n, r)
	}

	// the Dockerfile builds like `make release`
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	// one build line for each program, in each file
	builds := func(text string, isBuild func(string) bool) map[string]string {
		lines := map[string]string{}
		for _, l := range strings.Split(text, "\n") {
			if !isBuild(l) {
				continue
			}
			for _, prog := range []string{"gatehouse", "gatehouse-pdp"} {
				if strings.Contains(l, "./cmd/"+prog+" ") || strings.Contains(l, "./cmd/"+prog+";") || strings.HasSuffix(l, "./cmd/"+prog) {
					lines[prog] = l
				}
			}
		}
		return lines
	}
	dockerBuilds := builds(string(dockerfile), func(l string) bool { return strings.HasPrefix(l, "RUN ") && strings.Contains(l, " go build ") })
	makeBuilds := builds(string(makefile), func(l string) bool { return strings.Contains(l, "$(GO) build -trimpath") })
	for _, prog := range []string{"gatehouse", "gatehouse-pdp"} {
		dockerBuild, makeBuild := dockerBuilds[prog], makeBuilds[prog]
		if dockerBuild == "" || makeBuild == "" {
			t.Errorf("no go build line of ./cmd/%s: Dockerfile %q, Makefile %q", prog, dockerBuild, makeBuild)
			continue
		}
		for _, part := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w"} {
			if !strings.Contains(makeBuild, part) || !strings.Contains(dockerBuild, part) {
				t.Errorf("%s %q: in the Makefile %v, in the Dockerfile %v", prog, part, strings.Contains(makeBuild, part), strings.Contains(dockerBuild, part))
			}
		}
		for _, v := range []string{"version", "commit", "date"} {
			if x := "internal/buildinfo." + v + "="; !strings.Contains(dockerBuild, x) {
				t.Errorf("the Dockerfile does not stamp %s in %s", x, prog)
			}
		}
		if cp := "COPY --from=build /out/" + prog + " /usr/local/bin/" + prog + "\n"; !strings.Contains(string(dockerfile), cp) {
			t.Errorf("the Dockerfile lacks %q", cp)
		}
	}
	for _, v := range []string{"version", "commit", "date"} {
		if !strings.Contains(string(makefile), "$(BUILDINFO)."+v+"=") {
			t.Errorf("the Makefile does not stamp %s", v)
		}
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	if goVersion == nil || !strings.Contains(string(dockerfile), "FROM golang:"+goVersion[1]+" ") {
		t.Errorf("the Dockerfile's Go image does not match go.mod's go %v", goVersion)
	}
	// go.mod's local replacements must be in the image before `go mod
	// download`, and the file must build with the classic builder too
	// (COPY --chmod and RUN --mount need BuildKit).
	download := strings.Index(string(dockerfile), "RUN go mod download")
	if download < 0 {
		t.Fatal("the Dockerfile has no RUN go mod download")
	}
	for _, m := range regexp.MustCompile(`(?m)^replace \S+ => \./(\S+)$`).FindAllStringSubmatch(string(gomod), -1) {
		if copyLine := "COPY " + m[1] + "/go.mod ./" + m[1] + "/"; !strings.Contains(string(dockerfile)[:download], copyLine) {
			t.Errorf("go.mod replaces a module with ./%s: the Dockerfile needs %q before go mod download", m[1], copyLine)
		}
	}
	var instructions []string
	for _, l := range strings.Split(string(dockerfile), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			instructions = append(instructions, l)
		}
	}
	for _, bad := range []string{"--chmod", "--mount"} {
		if strings.Contains(strings.Join(instructions, "\n"), bad) {
			t.Errorf("the Dockerfile uses %s, which the classic builder refuses", bad)
		}
	}
	for _, want := range []string{"USER 65532", "HEALTHCHECK", "/readyz", "ENTRYPOINT [\"/usr/local/bin/gatehouse\"]"} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
}
