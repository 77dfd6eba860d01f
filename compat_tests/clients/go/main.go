// Command kafkasim-go-driver drives the Go Kafka clients franz-go (kgo, kadm) and IBM sarama for kafkasim's
// compat tests: one long-lived process reading JSON-line commands {"id", "op", ...} on stdin and answering
// one line {"id", "result"} or {"id", "error": {"message"}} per command on stdout, in order. Its first line
// is {"ready": true, "franz_go": ..., "sarama": ...}. Every op makes its own clients and closes them before
// it answers, so a failed op leaves nothing behind. The Python side is compat_tests/clients/golang.py.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is a record as the driver takes and gives it: text keys, values and header values.
type Record struct {
	Topic     string            `json:"topic,omitempty"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       *string           `json:"key"`
	Value     *string           `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// Command is one request line; each op reads the fields it needs.
type Command struct {
	ID            int64             `json:"id"`
	Op            string            `json:"op"`
	Bootstrap     string            `json:"bootstrap"`
	Topic         string            `json:"topic"`
	Topics        []string          `json:"topics"`
	OutputTopic   string            `json:"output_topic"`
	Group         string            `json:"group"`
	Protocol      string            `json:"protocol"` // "classic" or "consumer" (KIP-848)
	TransactionID string            `json:"transactional_id"`
	Records       []Record          `json:"records"`
	Count         int               `json:"count"`
	Members       int               `json:"members"`
	Partitions    int32             `json:"partitions"`
	Configs       map[string]string `json:"configs"`
	Compression   string            `json:"compression"`
	Acks          string            `json:"acks"`
	Idempotent    *bool             `json:"idempotent"`
	ReadCommitted bool              `json:"read_committed"`
	Commit        *bool             `json:"commit"`
	TimeoutMs     int               `json:"timeout_ms"`
}

func main() {
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"ready": true, "franz_go": depVersion("github.com/twmb/franz-go"),
		"kadm": depVersion("github.com/twmb/franz-go/pkg/kadm"), "sarama": depVersion("github.com/IBM/sarama")})
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var cmd Command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			_ = out.Encode(map[string]any{"error": map[string]any{"message": "bad command: " + err.Error()}})
			continue
		}
		if cmd.Op == "exit" {
			_ = out.Encode(map[string]any{"id": cmd.ID, "result": map[string]any{}})
			return
		}
		result, err := run(&cmd)
		if err != nil {
			_ = out.Encode(map[string]any{"id": cmd.ID, "error": map[string]any{"message": err.Error()}})
		} else {
			_ = out.Encode(map[string]any{"id": cmd.ID, "result": result})
		}
	}
}

func depVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func run(cmd *Command) (any, error) {
	timeout := time.Duration(cmd.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch cmd.Op {
	case "kgo_produce":
		return kgoProduce(ctx, cmd)
	case "kgo_consume":
		return kgoConsume(ctx, cmd)
	case "kgo_group_consume":
		return kgoGroupConsume(ctx, cmd)
	case "kgo_group_members":
		return kgoGroupMembers(ctx, cmd)
	case "kgo_abort":
		return kgoAbort(ctx, cmd)
	case "kgo_transact":
		return kgoTransact(ctx, cmd)
	case "kadm_create_topic":
		return kadmCreateTopic(ctx, cmd)
	case "kadm_list_topics":
		return kadmListTopics(ctx, cmd)
	case "kadm_describe_configs":
		return kadmDescribeConfigs(ctx, cmd)
	case "kadm_list_groups":
		return kadmListGroups(ctx, cmd)
	case "kadm_lag":
		return kadmLag(ctx, cmd)
	case "kadm_describe_groups":
		return kadmDescribeGroups(ctx, cmd)
	case "kadm_describe_consumer_group":
		return kadmDescribeConsumerGroup(ctx, cmd)
	case "kadm_delete_topics":
		return kadmDeleteTopics(ctx, cmd)
	case "sarama_produce":
		return saramaProduce(cmd)
	case "sarama_group_consume":
		return saramaGroupConsume(ctx, cmd)
	}
	return nil, fmt.Errorf("unknown op %q", cmd.Op)
}

// ------------------------------------------------------------------------------------------- franz-go kgo

func baseOpts(cmd *Command) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(strings.Split(cmd.Bootstrap, ",")...), kgo.ClientID("kafkasim-go-driver")}
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("unknown codec %q", name)
}

func toKgo(topic string, r Record) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Partition: r.Partition}
	if r.Key != nil {
		rec.Key = []byte(*r.Key)
	}
	if r.Value != nil {
		rec.Value = []byte(*r.Value)
	}
	keys := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(r.Headers[k])})
	}
	return rec
}

func fromKgo(r *kgo.Record) Record {
	out := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	if r.Key != nil {
		k := string(r.Key)
		out.Key = &k
	}
	if r.Value != nil {
		v := string(r.Value)
		out.Value = &v
	}
	if len(r.Headers) > 0 {
		out.Headers = map[string]string{}
		for _, h := range r.Headers {
			out.Headers[h.Key] = string(h.Value)
		}
	}
	return out
}

// kgoProduce sends the records synchronously (ManualPartitioner: each record goes to its "partition").
func kgoProduce(ctx context.Context, cmd *Command) (any, error) {
	c, err := codec(cmd.Compression)
	if err != nil {
		return nil, err
	}
	opts := append(baseOpts(cmd), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(c),
		kgo.ProducerLinger(10*time.Millisecond))
	switch cmd.Acks {
	case "", "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	}
	if cmd.Idempotent != nil && !*cmd.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(cmd.Records))
	for i, r := range cmd.Records {
		recs[i] = toKgo(cmd.Topic, r)
	}
	results := cl.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		return nil, err
	}
	sent := make([]Record, len(results))
	for i, r := range results {
		sent[i] = fromKgo(r.Record)
	}
	return map[string]any{"records": sent, "producer_id": results[0].Record.ProducerID}, nil
}

// pollCount polls until count records arrived or the context ends (then it returns what it has).
func pollCount(ctx context.Context, cl *kgo.Client, count int, onFetch func([]*kgo.Record) error) ([]Record, error) {
	var got []Record
	for len(got) < count {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return got, ferr
		}
		recs := fetches.Records()
		for _, r := range recs {
			got = append(got, fromKgo(r))
		}
		if onFetch != nil && len(recs) > 0 {
			if err := onFetch(recs); err != nil {
				return got, err
			}
		}
	}
	return got, nil
}

// kgoConsume reads the topic(s) from the start with no group; with count 0 it reads until the timeout
// (used to show that nothing more arrives).
func kgoConsume(ctx context.Context, cmd *Command) (any, error) {
	opts := append(baseOpts(cmd), kgo.ConsumeTopics(topicsOf(cmd)...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if cmd.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	count := cmd.Count
	if count <= 0 {
		count = 1 << 30
	}
	got, err := pollCount(ctx, cl, count, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{"records": got}, nil
}

func topicsOf(cmd *Command) []string {
	if len(cmd.Topics) > 0 {
		return cmd.Topics
	}
	return []string{cmd.Topic}
}

func groupOpts(cmd *Command) []kgo.Opt {
	opts := []kgo.Opt{kgo.ConsumerGroup(cmd.Group), kgo.ConsumeTopics(topicsOf(cmd)...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if cmd.Protocol == "consumer" {
		// KIP-848: the broker assigns; franz-go needs a range or sticky balancer to name as the server assignor
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	}
	return opts
}

// kgoGroupConsume joins the group, reads count records, commits them and leaves. It reports the member's
// assignment as the client saw it.
func kgoGroupConsume(ctx context.Context, cmd *Command) (any, error) {
	opts := append(baseOpts(cmd), groupOpts(cmd)...)
	opts = append(opts, kgo.DisableAutoCommit())
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got, err := pollCount(ctx, cl, cmd.Count, nil)
	if err != nil {
		return nil, err
	}
	if len(got) < cmd.Count {
		return nil, fmt.Errorf("only %d of %d records arrived in the group", len(got), cmd.Count)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	meta, _ := cl.GroupMetadata()
	return map[string]any{"records": got, "member_id": meta}, nil
}

// kgoGroupMembers starts "members" kgo consumers of the group on the empty-so-far topic, waits until the
// group is settled (every member assigned at least one partition, all "partitions" assigned once), then
// produces count records round-robin over the partitions and reads them until together the members have
// all. It reports each member's records and final assignment, so a test can check the split.
func kgoGroupMembers(ctx context.Context, cmd *Command) (any, error) {
	var mu sync.Mutex
	total := 0
	perMember := make([][]Record, cmd.Members)
	assigned := make([]map[int32]bool, cmd.Members)
	clients := make([]*kgo.Client, cmd.Members)
	for i := range clients {
		assigned[i] = map[int32]bool{}
		update := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
			return func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range parts[cmd.Topic] {
					if add {
						assigned[i][p] = true
					} else {
						delete(assigned[i], p)
					}
				}
			}
		}
		opts := append(baseOpts(cmd), groupOpts(cmd)...)
		opts = append(opts, kgo.DisableAutoCommit(), kgo.OnPartitionsAssigned(update(true)),
			kgo.OnPartitionsRevoked(update(false)), kgo.OnPartitionsLost(update(false)))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		clients[i] = cl
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, cmd.Members)
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				recs := cl.PollFetches(pctx).Records()
				if len(recs) == 0 {
					continue
				}
				if err := cl.CommitRecords(pctx, recs...); err != nil && pctx.Err() == nil {
					errs[i] = fmt.Errorf("member %d commit: %w", i, err)
					stop()
					return
				}
				mu.Lock()
				for _, r := range recs {
					perMember[i] = append(perMember[i], fromKgo(r))
				}
				total += len(recs)
				if total >= cmd.Count {
					stop()
				}
				mu.Unlock()
			}
		}()
	}
	settled := func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range assigned {
			if len(a) == 0 {
				return false
			}
			n += len(a)
		}
		return n == int(cmd.Partitions)
	}
	for !settled() {
		select {
		case <-pctx.Done():
			wg.Wait()
			return nil, fmt.Errorf("the group did not settle: assignments %v", assigned)
		case <-time.After(20 * time.Millisecond):
		}
	}
	producer, err := kgo.NewClient(append(baseOpts(cmd), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	recs := make([]*kgo.Record, cmd.Count)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: cmd.Topic, Partition: int32(i) % cmd.Partitions, Value: []byte(fmt.Sprintf("m%d", i))}
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		stop()
		wg.Wait()
		return nil, err
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if total < cmd.Count {
		return nil, fmt.Errorf("the %d members read only %d of %d records", cmd.Members, total, cmd.Count)
	}
	mu.Lock()
	defer mu.Unlock()
	final := make([][]int32, cmd.Members)
	for i, a := range assigned {
		for p := range a {
			final[i] = append(final[i], p)
		}
		sort.Slice(final[i], func(x, y int) bool { return final[i][x] < final[i][y] })
	}
	return map[string]any{"members": perMember, "assignments": final}, nil
}

// kgoAbort produces the records in one transaction and aborts it.
func kgoAbort(ctx context.Context, cmd *Command) (any, error) {
	opts := append(baseOpts(cmd), kgo.TransactionalID(cmd.TransactionID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return nil, err
	}
	for _, r := range cmd.Records {
		if err := cl.ProduceSync(ctx, toKgo(cmd.Topic, r)).FirstErr(); err != nil {
			return nil, err
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return nil, err
	}
	return map[string]any{"aborted": len(cmd.Records)}, nil
}

// kgoTransact is consume-transform-produce with a GroupTransactSession: it reads the input topic in the
// group and writes each value upper-cased (same key, same partition number) to the output topic, one
// transaction per poll that commits the output and the group's offsets together, until count records are
// committed. With commit false the first transaction is aborted (so its input is read again).
func kgoTransact(ctx context.Context, cmd *Command) (any, error) {
	opts := append(baseOpts(cmd), groupOpts(cmd)...)
	opts = append(opts, kgo.TransactionalID(cmd.TransactionID), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequireStableFetchOffsets())
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	committed, transactions, aborted := 0, 0, 0
	abortNext := cmd.Commit != nil && !*cmd.Commit
	for committed < cmd.Count {
		fetches := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("only %d of %d records committed: %w", committed, cmd.Count, ctx.Err())
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return nil, fmt.Errorf("fetch: %v", errs[0].Err)
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		out := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			out[i] = &kgo.Record{Topic: cmd.OutputTopic, Partition: r.Partition, Key: r.Key,
				Value: []byte(strings.ToUpper(string(r.Value)))}
		}
		if err := sess.ProduceSync(ctx, out...).FirstErr(); err != nil {
			return nil, fmt.Errorf("produce: %w", err)
		}
		try := kgo.TryCommit
		if abortNext {
			try = kgo.TryAbort
		}
		ok, err := sess.End(ctx, try)
		if err != nil {
			return nil, fmt.Errorf("end: %w", err)
		}
		transactions++
		if abortNext {
			abortNext = false
			aborted += len(recs)
		} else if ok {
			committed += len(recs)
		}
	}
	return map[string]any{"committed": committed, "aborted": aborted, "transactions": transactions}, nil
}

// ----------------------------------------------------------------------------------------- franz-go kadm

func admin(cmd *Command) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(baseOpts(cmd)...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func kadmCreateTopic(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	configs := map[string]*string{}
	for k, v := range cmd.Configs {
		configs[k] = &v
	}
	partitions := cmd.Partitions
	if partitions == 0 {
		partitions = 1
	}
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, cmd.Topic)
	if err != nil {
		return nil, err
	}
	if resp.Err != nil {
		return nil, fmt.Errorf("%w (%s)", resp.Err, resp.ErrMessage)
	}
	got := map[string]string{}
	for _, c := range resp.Configs {
		if c.Value != nil {
			got[c.Key] = *c.Value
		}
	}
	return map[string]any{"topic": resp.Topic, "partitions": resp.NumPartitions,
		"replication_factor": resp.ReplicationFactor, "topic_id": resp.ID.String(), "configs": got}, nil
}

func kadmListTopics(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	details, err := adm.ListTopics(ctx, cmd.Topics...)
	if err != nil {
		return nil, err
	}
	topics := map[string]any{}
	for name, d := range details {
		if d.Err != nil {
			topics[name] = map[string]any{"error": d.Err.Error()}
			continue
		}
		parts := []map[string]any{}
		for _, p := range d.Partitions.Sorted() {
			parts = append(parts, map[string]any{"partition": p.Partition, "leader": p.Leader,
				"replicas": p.Replicas, "isr": p.ISR})
		}
		topics[name] = map[string]any{"topic_id": d.ID.String(), "internal": d.IsInternal, "partitions": parts}
	}
	return map[string]any{"topics": topics}, nil
}

func kadmDescribeConfigs(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	rcs, err := adm.DescribeTopicConfigs(ctx, topicsOf(cmd)...)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, rc := range rcs {
		if rc.Err != nil {
			out[rc.Name] = map[string]any{"error": rc.Err.Error()}
			continue
		}
		configs := map[string]any{}
		for _, c := range rc.Configs {
			configs[c.Key] = map[string]any{"value": c.MaybeValue(), "source": c.Source.String(),
				"sensitive": c.Sensitive}
		}
		out[rc.Name] = map[string]any{"configs": configs}
	}
	return map[string]any{"resources": out}, nil
}

func kadmListGroups(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for name, g := range groups {
		out[name] = map[string]any{"state": g.State, "protocol_type": g.ProtocolType, "type": g.GroupType}
	}
	return map[string]any{"groups": out}, nil
}

// kadmLag describes the groups with their committed offsets, end offsets and lag per partition.
func kadmLag(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	lags, err := adm.Lag(ctx, cmd.Group)
	if err != nil {
		return nil, err
	}
	l, ok := lags[cmd.Group]
	if !ok {
		return nil, fmt.Errorf("group %q not in the lag answer", cmd.Group)
	}
	if err := l.Error(); err != nil {
		return nil, err
	}
	parts := []map[string]any{}
	for _, m := range l.Lag.Sorted() {
		p := map[string]any{"topic": m.Topic, "partition": m.Partition, "commit": m.Commit.At,
			"end": m.End.Offset, "lag": m.Lag}
		if m.Err != nil {
			p["error"] = m.Err.Error()
		}
		parts = append(parts, p)
	}
	return map[string]any{"state": l.State, "protocol_type": l.ProtocolType, "members": len(l.Members),
		"total_lag": l.Lag.Total(), "partitions": parts}, nil
}

// kadmDescribeGroups is DescribeGroups (the classic protocol's describe) of one group, its error as given.
func kadmDescribeGroups(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	described, err := adm.DescribeGroups(ctx, cmd.Group)
	var se *kadm.ShardErrors
	if errors.As(err, &se) {
		return map[string]any{"error": se.Errs[0].Err.Error()}, nil
	} else if err != nil {
		return nil, err
	}
	g := described[cmd.Group]
	out := map[string]any{"state": g.State, "protocol_type": g.ProtocolType, "protocol": g.Protocol,
		"members": len(g.Members)}
	if g.Err != nil {
		out["error"] = g.Err.Error()
	}
	return out, nil
}

// kadmDescribeConsumerGroup is ConsumerGroupDescribe (KIP-848) of one group with its committed offsets and
// end offsets per partition: a consumer-protocol group's lag (kadm.Lag describes with DescribeGroups only).
func kadmDescribeConsumerGroup(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	described, err := adm.DescribeConsumerGroups(ctx, cmd.Group)
	if err != nil {
		return nil, err
	}
	g := described[cmd.Group]
	if g.Err != nil {
		return nil, g.Err
	}
	commits, err := adm.FetchOffsets(ctx, cmd.Group)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topicsOf(cmd)...)
	if err != nil {
		return nil, err
	}
	parts := []map[string]any{}
	for _, o := range commits.Sorted() {
		end, _ := ends.Lookup(o.Topic, o.Partition)
		parts = append(parts, map[string]any{"topic": o.Topic, "partition": o.Partition, "commit": o.At,
			"end": end.Offset, "lag": end.Offset - o.At})
	}
	return map[string]any{"state": g.State, "epoch": g.Epoch, "assignor": g.AssignorName,
		"members": len(g.Members), "partitions": parts}, nil
}

func kadmDeleteTopics(ctx context.Context, cmd *Command) (any, error) {
	adm, done, err := admin(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	resps, err := adm.DeleteTopics(ctx, topicsOf(cmd)...)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for name, r := range resps {
		if r.Err != nil {
			out[name] = r.Err.Error()
		} else {
			out[name] = nil
		}
	}
	return map[string]any{"topics": out}, nil
}

// ----------------------------------------------------------------------------------------------- sarama

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.ClientID = "kafkasim-go-driver-sarama"
	return cfg
}

// saramaProduce sends the records with a SyncProducer (acks all, idempotent, manual partitioning).
func saramaProduce(cmd *Command) (any, error) {
	cfg := saramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 5
	switch cmd.Compression {
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	}
	p, err := sarama.NewSyncProducer(strings.Split(cmd.Bootstrap, ","), cfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	sent := []Record{}
	for _, r := range cmd.Records {
		msg := &sarama.ProducerMessage{Topic: cmd.Topic, Partition: r.Partition}
		if r.Key != nil {
			msg.Key = sarama.StringEncoder(*r.Key)
		}
		if r.Value != nil {
			msg.Value = sarama.StringEncoder(*r.Value)
		}
		for k, v := range r.Headers {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		partition, offset, err := p.SendMessage(msg)
		if err != nil {
			return nil, err
		}
		r.Topic, r.Partition, r.Offset = cmd.Topic, partition, offset
		sent = append(sent, r)
	}
	return map[string]any{"records": sent}, nil
}

type saramaHandler struct {
	mu      sync.Mutex
	got     []Record
	want    int
	enough  chan struct{}
	once    sync.Once
	claimed map[string][]int32
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.claimed = s.Claims()
	h.mu.Unlock()
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		r := Record{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
		if msg.Key != nil {
			k := string(msg.Key)
			r.Key = &k
		}
		if msg.Value != nil {
			v := string(msg.Value)
			r.Value = &v
		}
		for _, hd := range msg.Headers {
			if r.Headers == nil {
				r.Headers = map[string]string{}
			}
			r.Headers[string(hd.Key)] = string(hd.Value)
		}
		s.MarkMessage(msg, "")
		h.mu.Lock()
		h.got = append(h.got, r)
		n := len(h.got)
		h.mu.Unlock()
		if n >= h.want {
			s.Commit()
			h.once.Do(func() { close(h.enough) })
		}
	}
	return nil
}

// saramaGroupConsume joins the group with a sarama ConsumerGroup from the oldest offset, reads count
// records, commits what it marked and closes.
func saramaGroupConsume(ctx context.Context, cmd *Command) (any, error) {
	cfg := saramaConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	group, err := sarama.NewConsumerGroup(strings.Split(cmd.Bootstrap, ","), cmd.Group, cfg)
	if err != nil {
		return nil, err
	}
	h := &saramaHandler{want: cmd.Count, enough: make(chan struct{})}
	cctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := group.Consume(cctx, topicsOf(cmd), h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var runErr error
	select {
	case <-h.enough:
	case <-ctx.Done():
		runErr = fmt.Errorf("sarama group: timed out")
	case runErr = <-errc:
	}
	stop()
	if runErr == nil {
		runErr = <-errc
	}
	// Close commits the marked offsets (the session's final commit happens when Consume returns)
	if err := group.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, runErr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return map[string]any{"records": h.got, "claims": h.claimed}, nil
}
