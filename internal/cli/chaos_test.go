package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	goredis "github.com/redis/go-redis/v9"
)

// TestThreeNodeChaos is issue 16's scenario on a loopback cluster: three
// `gatehouse serve` processes on one PostgreSQL (reached through a proxy
// that plays its outage) and one Redis of the test's own, under a bounded
// mixed load of checks and writes, while the test SIGKILLs a node and
// restarts it, stops PostgreSQL for 30 s (5 s with -short) and starts it
// again, and kills Redis and starts it again. It asserts:
//   - no acknowledged write is lost: every user and role assignment that
//     was answered 201 is there afterwards, and every node's engine grants
//     every acknowledged assignment;
//   - checks with keys the nodes knew are all answered, and correctly,
//     through the PostgreSQL stop (and at every other moment, on the nodes
//     that are up); writes in the outage are 503, never 500;
//   - rate limits stay exact: with Redis down the three nodes pass exactly
//     a limit of 90 between them (30 each), and with Redis back exactly 90;
//   - every node is ready again (200, "ready") at the end.
func TestThreeNodeChaos(t *testing.T) {
	t.Parallel()
	outage := 30 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(keyFile, []byte(pgtest.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := pgtest.NewDatabase(t)
	out, err := run(t, nil, "init", "--output", "json", "--database-url", dbURL, "--secret-key-file", keyFile)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	var in initOut
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxy(t)
	redis := startRedis(t)

	c := &cluster{t: t}
	for i := 0; i < 3; i++ {
		addr := freeAddr(t)
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("node %d", i+1), base: "http://" + addr,
			args: []string{"serve", "--database-url", proxy.URL(dbURL), "--secret-key-file", keyFile,
				"--redis-url", redis.url(), "--rate-limit-nodes", "3", "--addr", addr, "--log-level", "warn"}})
	}
	for _, n := range c.nodes {
		n.start(t)
	}
	for _, n := range c.nodes {
		c.waitReady(n, "ready")
	}

	// The model: a reader may read documents, ada is a reader.
	q := "?project=default&environment=development"
	first := c.nodes[0].base
	for _, s := range [][2]string{
		{"/v1/resources", `{"key":"doc","actions":["read","write"]}`},
		{"/v1/roles", `{"key":"reader","permissions":["doc:read"]}`},
		{"/v1/users", `{"key":"ada"}`},
		{"/v1/role-assignments", `{"user":"ada","role":"reader"}`},
	} {
		if st, res := api(t, "POST", first+s[0]+q, in.APIKey, "application/json", s[1]); st != 201 {
			t.Fatalf("%s: %d %v", s[0], st, res)
		}
	}
	// One environment key for the load, with a limit the load never meets.
	st, res := api(t, "POST", first+"/v1/api-keys", in.APIKey, "application/json",
		`{"name":"load","level":"environment","project":"default","environment":"development",`+
			`"scopes":["check:access","view:user","manage:user","manage:role_assignment"],"rate_limit_per_hour":100000000}`)
	if st != 201 {
		t.Fatalf("load key: %d %v", st, res)
	}
	c.key = res["data"].(map[string]any)["token"].(string)
	for _, n := range c.nodes {
		c.warm(n)
	}

	l := startLoad(c)
	c.waitAcks(l, 20, "writes before the crash")

	// 1. SIGKILL a node under load; the other two go on; it comes back.
	victim := c.nodes[2]
	victim.up.Store(false)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	c.waitAcks(l, 20, "writes on the two nodes left")
	victim.start(t)
	c.waitReady(victim, "ready")
	c.warm(victim)

	// 2. PostgreSQL stops for the outage: checks answer from memory on
	// every node, writes are 503.
	c.waitAcks(l, 20, "writes before the database outage")
	l.phase.Store("database outage")
	proxy.Cut()
	began := time.Now()
	before := l.snapshot()
	testwait.Until(t, outage+time.Minute, "the outage's length, and checks answered on every node in it", func() bool {
		if time.Since(began) < outage {
			return false
		}
		s := l.snapshot()
		for _, n := range c.nodes {
			if s.checksOn[n.name]-before.checksOn[n.name] < 20 {
				return false
			}
		}
		return true
	})
	for _, n := range c.nodes {
		if st, body := n.readyz(); st != 200 || body["status"] != "degraded" {
			t.Errorf("%s's /readyz in the outage: %d %v", n.name, st, body)
		}
	}
	during := l.snapshot()
	proxy.Restore()
	l.phase.Store("after the database outage")
	for _, n := range c.nodes {
		c.waitReady(n, "ready")
	}
	c.waitAcks(l, 20, "writes after the database outage")

	// 3. Redis stops: each node enforces its share (90/3) of a limit; the
	// checks go on. Then Redis is back and the limit is exact through it.
	// Every node counts the three nodes now (the killed node's entry has
	// expired and each node heartbeated since), so each takes 1/3 when
	// Redis stops.
	redis.waitCounted(t, 3)
	l.phase.Store("rate limit store outage")
	redis.stop(t)
	for _, n := range c.nodes {
		testwait.Until(t, time.Minute, n.name+" deciding on its share with Redis down", func() bool {
			st, body := n.readyz()
			checks, _ := body["checks"].(map[string]any)
			return st == 200 && strings.Contains(fmt.Sprint(checks["rate_limit_store"]), "1/3 of each limit")
		})
	}
	const limit, burst = 90, 300
	if got := c.burst(in.APIKey, limit, burst); got.ok != limit || got.limited != burst-limit {
		t.Errorf("limit %d with Redis down, %d requests over 3 nodes: %d passed, %d limited, %d other (want exactly the 3 shares of 30)",
			limit, burst, got.ok, got.limited, got.other)
	}
	c.waitAcks(l, 20, "writes with Redis down")
	redis.start(t)
	l.phase.Store("after the rate limit store outage")
	for _, n := range c.nodes {
		c.waitReady(n, "ready")
	}
	for attempt := 1; ; attempt++ {
		got := c.burst(in.APIKey, limit, burst)
		if got.ok > limit || got.other != 0 {
			t.Fatalf("limit %d with Redis back: %d passed, %d limited, %d other", limit, got.ok, got.limited, got.other)
		}
		if got.ok == limit && got.limited == burst-limit {
			break
		}
		// A node whose Redis call outlasted its timeout on a busy machine
		// decided on its share (charging Redis twice for that request):
		// fewer pass, never more. One burst must be exact.
		t.Logf("attempt %d with Redis back: %d passed, %d limited", attempt, got.ok, got.limited)
		if attempt == 5 {
			t.Fatalf("no burst of 5 passed exactly the limit of %d with Redis back", limit)
		}
	}
	c.waitAcks(l, 20, "writes at the end")
	final := l.stop()

	// What the load saw.
	inOutage := during.sub(before)
	t.Logf("database outage of %s: %d checks answered correctly of %d sent to live nodes (%d wrong, %d not 200, %d transport errors); %d writes refused with 503",
		during.at.Sub(began).Round(time.Second), inOutage.correct, inOutage.sent, inOutage.wrong, inOutage.failed, inOutage.transport, inOutage.writes503)
	t.Logf("whole run: %d checks (%d correct), %d users and %d assignments acknowledged, %d writes refused with 503",
		final.sent, final.correct, len(final.users), len(final.assigned), final.writes503)
	if inOutage.sent == 0 || inOutage.correct != inOutage.sent {
		t.Errorf("checks in the database outage: %d of %d answered correctly", inOutage.correct, inOutage.sent)
	}
	if final.wrong != 0 || final.failed != 0 || final.transport != 0 {
		t.Errorf("checks on live nodes: %d wrong, %d not answered 200, %d transport errors; first: %v", final.wrong, final.failed, final.transport, final.problems)
	}
	if len(final.bad) != 0 {
		t.Errorf("writes answered other than 201 or 503: %v", final.bad)
	}

	// No acknowledged write lost: every user is there, and every node's
	// engine grants every acknowledged assignment.
	for _, n := range c.nodes {
		c.waitReady(n, "ready")
	}
	missing := 0
	for _, u := range final.users {
		if st, _ := api(t, "GET", c.nodes[len(u)%3].base+"/v1/users/"+u+q, c.key, "", ""); st != 200 {
			missing++
		}
	}
	if missing != 0 {
		t.Errorf("%d of %d acknowledged users missing", missing, len(final.users))
	}
	for _, n := range c.nodes {
		testwait.Until(t, time.Minute, n.name+" granting every acknowledged assignment", func() bool {
			return c.denied(n, final.assigned) == 0
		})
	}
}

// cluster is the test's nodes and the load's key.
type cluster struct {
	t     *testing.T
	nodes []*node
	key   string
}

type node struct {
	name, base string
	args       []string
	cmd        *exec.Cmd
	up         atomic.Bool // the load may use it
}

func (n *node) start(t *testing.T) {
	t.Helper()
	n.cmd = startChild(t, nil, n.args...).cmd
}

func (n *node) readyz() (int, map[string]any) {
	res, err := http.Get(n.base + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	data, _ := out["data"].(map[string]any)
	if data == nil {
		data = out
	}
	return res.StatusCode, data
}

// waitReady waits for n's /readyz to answer 200 with status.
func (c *cluster) waitReady(n *node, status string) {
	c.t.Helper()
	testwait.Until(c.t, 2*time.Minute, n.name+" ready", func() bool {
		st, body := n.readyz()
		return st == 200 && body["status"] == status
	})
}

// warm has n verify the load's key (so it knows it in an outage) and
// answer a check, then lets the load use it.
func (c *cluster) warm(n *node) {
	c.t.Helper()
	st, res := api(c.t, "POST", n.base+"/v1/allowed", c.key, "application/json", checks[0].body)
	if st != 200 {
		c.t.Fatalf("%s: first check %d %v", n.name, st, res)
	}
	n.up.Store(true)
}

// waitAcks waits for k more acknowledged writes.
func (c *cluster) waitAcks(l *load, k int, what string) {
	c.t.Helper()
	from := len(l.snapshot().users)
	testwait.Until(c.t, 2*time.Minute, what, func() bool { return len(l.snapshot().users) >= from+k })
}

type burstOutcome struct{ ok, limited, other int }

// burst creates a key limited to limit an hour and sends n requests with
// it, round robin over the nodes, 16 at a time.
func (c *cluster) burst(orgKey string, limit, n int) burstOutcome {
	c.t.Helper()
	st, res := api(c.t, "POST", c.nodes[0].base+"/v1/api-keys", orgKey, "application/json",
		fmt.Sprintf(`{"name":"limited","level":"organization","scopes":["view:project"],"rate_limit_per_hour":%d}`, limit))
	if st != 201 {
		c.t.Fatalf("limited key: %d %v", st, res)
	}
	key := res["data"].(map[string]any)["token"].(string)
	var mu sync.Mutex
	var out burstOutcome
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, _, err := try("GET", c.nodes[i%3].base+"/v1/projects", key, "")
				mu.Lock()
				switch {
				case err == nil && st == 200:
					out.ok++
				case err == nil && st == 429:
					out.limited++
				default:
					out.other++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// denied counts the users of assigned a bulk check on n does not grant.
func (c *cluster) denied(n *node, assigned []string) int {
	c.t.Helper()
	denied := 0
	for from := 0; from < len(assigned); from += 1000 {
		batch := assigned[from:min(from+1000, len(assigned))]
		var body strings.Builder
		body.WriteString(`{"checks":[`)
		for i, u := range batch {
			if i > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"user":%q,"action":"read","resource":{"type":"doc"}}`, u)
		}
		body.WriteString(`]}`)
		st, res := api(c.t, "POST", n.base+"/v1/allowed/bulk", c.key, "application/json", body.String())
		if st != 200 {
			c.t.Fatalf("%s: bulk check %d %v", n.name, st, res)
		}
		for _, r := range res["data"].([]any) {
			if r.(map[string]any)["allow"] != true {
				denied++
			}
		}
	}
	return denied
}

// checks are the load's checks and their answers.
var checks = []struct {
	body  string
	allow bool
}{
	{`{"user":"ada","action":"read","resource":{"type":"doc"}}`, true},
	{`{"user":"ada","action":"write","resource":{"type":"doc"}}`, false},
	{`{"user":"bob","action":"read","resource":{"type":"doc"}}`, false},
}

// load is two checkers and a writer on the nodes that are up, paced, until
// stopped.
type load struct {
	c     *cluster
	phase atomic.Value // string: the phase problems are reported in
	stopc chan struct{}
	wg    sync.WaitGroup

	mu sync.Mutex
	s  loadStats
}

type loadStats struct {
	at                           time.Time
	sent, correct, wrong, failed int
	transport, writes503         int
	checksOn                     map[string]int
	users, assigned              []string // acknowledged (201)
	bad, problems                []string // the first few
}

func (s loadStats) sub(b loadStats) loadStats {
	return loadStats{at: s.at, sent: s.sent - b.sent, correct: s.correct - b.correct, wrong: s.wrong - b.wrong,
		failed: s.failed - b.failed, transport: s.transport - b.transport, writes503: s.writes503 - b.writes503}
}

func startLoad(c *cluster) *load {
	l := &load{c: c, stopc: make(chan struct{}), s: loadStats{checksOn: map[string]int{}}}
	l.phase.Store("steady")
	for w := 0; w < 2; w++ {
		l.wg.Add(1)
		go l.checker(w)
	}
	l.wg.Add(1)
	go l.writer()
	return l
}

// pick is the next node up after i, or nil.
func (l *load) pick(i int) *node {
	for k := 0; k < len(l.c.nodes); k++ {
		if n := l.c.nodes[(i+k)%len(l.c.nodes)]; n.up.Load() {
			return n
		}
	}
	return nil
}

func (l *load) note(list *[]string, s string) {
	if len(*list) < 10 {
		*list = append(*list, s)
	}
}

// checker sends a check every 4 ms at most (bounded, whatever the machine).
func (l *load) checker(w int) {
	defer l.wg.Done()
	tick := time.NewTicker(4 * time.Millisecond)
	defer tick.Stop()
	for i := w; ; i++ {
		select {
		case <-l.stopc:
			return
		case <-tick.C:
		}
		n := l.pick(i)
		if n == nil {
			continue
		}
		ch := checks[i%len(checks)]
		st, body, err := try("POST", n.base+"/v1/allowed", l.c.key, ch.body)
		if !n.up.Load() {
			continue // it went down meanwhile: not a node the load may use
		}
		var got struct {
			Data struct {
				Allow bool `json:"allow"`
			} `json:"data"`
		}
		l.mu.Lock()
		l.s.sent++
		l.s.checksOn[n.name]++
		switch {
		case err != nil:
			l.s.transport++
			l.note(&l.s.problems, fmt.Sprintf("%s, %s: %v", l.phase.Load(), n.name, err))
		case st != 200:
			l.s.failed++
			l.note(&l.s.problems, fmt.Sprintf("%s, %s: %d %s", l.phase.Load(), n.name, st, body))
		case json.Unmarshal(body, &got) != nil || got.Data.Allow != ch.allow:
			l.s.wrong++
			l.note(&l.s.problems, fmt.Sprintf("%s, %s: %s answered %s", l.phase.Load(), n.name, ch.body, body))
		default:
			l.s.correct++
		}
		l.mu.Unlock()
	}
}

// writer creates a user and assigns it the reader role, every 20 ms at
// most, and remembers what was acknowledged.
func (l *load) writer() {
	defer l.wg.Done()
	q := "?project=default&environment=development"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-l.stopc:
			return
		case <-tick.C:
		}
		n := l.pick(i)
		if n == nil {
			continue
		}
		user := fmt.Sprintf("w-%d", i)
		write := func(path, body string) bool {
			st, out, err := try("POST", n.base+path+q, l.c.key, body)
			l.mu.Lock()
			defer l.mu.Unlock()
			switch {
			case err == nil && st == 201:
				return true
			case err == nil && st == 503:
				l.s.writes503++
			case err != nil && !n.up.Load():
				// the node was killed under it: not acknowledged
			default:
				l.note(&l.s.bad, fmt.Sprintf("%s, %s: POST %s: %d %s %v", l.phase.Load(), n.name, path, st, out, err))
			}
			return false
		}
		if !write("/v1/users", fmt.Sprintf(`{"key":%q}`, user)) {
			continue
		}
		l.mu.Lock()
		l.s.users = append(l.s.users, user)
		l.mu.Unlock()
		if write("/v1/role-assignments", fmt.Sprintf(`{"user":%q,"role":"reader"}`, user)) {
			l.mu.Lock()
			l.s.assigned = append(l.s.assigned, user)
			l.mu.Unlock()
		}
	}
}

func (l *load) snapshot() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.s
	s.at = time.Now()
	s.checksOn = map[string]int{}
	for k, v := range l.s.checksOn {
		s.checksOn[k] = v
	}
	s.users = append([]string(nil), l.s.users...)
	s.assigned = append([]string(nil), l.s.assigned...)
	return s
}

func (l *load) stop() loadStats {
	close(l.stopc)
	l.wg.Wait()
	return l.snapshot()
}

// try is one request; it never fails the test.
func try(method, url, key, body string) (int, []byte, error) {
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	r.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	client := http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(res.Body).WriteTo(&b)
	return res.StatusCode, []byte(b.String()), err
}

// redisServer is a Redis of the test's own (redis-server from the
// machine), so that stopping it stops no other test's.
type redisServer struct {
	port string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is required for the cluster scenario (install Debian's redis-server): %v", err)
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	r := &redisServer{port: port}
	r.start(t)
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *redisServer) url() string { return "redis://127.0.0.1:" + r.port + "/0" }

func (r *redisServer) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", r.port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "redis-server answering PING", func() bool {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+r.port, time.Second)
		if err != nil {
			return false
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("PING\r\n")); err != nil {
			return false
		}
		line, _ := bufio.NewReader(conn).ReadString('\n')
		return strings.HasPrefix(line, "+PONG")
	})
}

// waitCounted waits until the nodes' heartbeat set holds n nodes and each
// of them heartbeated since (so each counts n).
func (r *redisServer) waitCounted(t *testing.T, n int) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + r.port})
	defer c.Close()
	ctx := context.Background()
	var since map[string]float64
	testwait.Until(t, time.Minute, fmt.Sprintf("%d nodes counted through Redis, each heartbeating since", n), func() bool {
		members, err := c.ZRangeWithScores(ctx, "gatehouse:nodes", 0, -1).Result()
		if err != nil || len(members) != n {
			since = nil
			return false
		}
		if since == nil {
			since = map[string]float64{}
			for _, m := range members {
				since[fmt.Sprint(m.Member)] = m.Score
			}
			return false
		}
		for _, m := range members {
			if s, ok := since[fmt.Sprint(m.Member)]; !ok || m.Score <= s {
				return false
			}
		}
		return true
	})
}

// stop kills it (SIGKILL: nothing saved, nothing said to the clients).
func (r *redisServer) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Wait()
	r.cmd = nil
}
