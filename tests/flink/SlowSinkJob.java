import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.ReduceFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * The Flink side of Tidemark's slow-sink scenario: an endless sequence, keyed by {@code i % keys},
 * a running count per key, and a sink that sleeps 1 ms every {@code every} records, so the count
 * and the source are backpressured by it. Three vertices: the source (chained with to-key), the
 * count, and the slow sink (a chain of its own). Arguments: job name, keys, every, checkpoint interval
 * in ms (0: none), and optionally a cap on the source (it sleeps 1 ms every {@code throttle} records;
 * 0: none), a file while which exists the sink is slow ({@code -} or absent: always slow), so that a
 * test can end the slowdown and see the backpressure clear, and a file whose appearance fails the sink
 * once (the subtask that deletes it throws), so that a test sees a restart and its exception; the job
 * then restarts up to 3 times, a second apart.
 */
public final class SlowSinkJob {
    private SlowSinkJob() {}

    public static void main(String[] args) throws Exception {
        String name = args.length > 0 ? args[0] : "flink-slow-sink";
        long keys = args.length > 1 ? Long.parseLong(args[1]) : 1000L;
        long every = args.length > 2 ? Long.parseLong(args[2]) : 10L;
        long interval = args.length > 3 ? Long.parseLong(args[3]) : 0L;
        long throttle = args.length > 4 ? Long.parseLong(args[4]) : 0L;
        String slowWhile = args.length > 5 && !args[5].equals("-") ? args[5] : "";
        String failWhen = args.length > 6 ? args[6] : "";
        Configuration conf = new Configuration();
        if (!failWhen.isEmpty()) {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, java.time.Duration.ofSeconds(1));
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        if (interval > 0) {
            env.enableCheckpointing(interval);
        }
        env.fromSequence(0, Long.MAX_VALUE)
                .name("source")
                .uid("source")
                .map(new ToKey(keys, throttle))
                .returns(Types.TUPLE(Types.LONG, Types.LONG))
                .name("to-key")
                .uid("to-key")
                .keyBy(t -> t.f0, Types.LONG)
                .reduce(new Count())
                .name("count")
                .uid("count")
                .map(new Slow(every, slowWhile, failWhen))
                .returns(Types.TUPLE(Types.LONG, Types.LONG))
                .startNewChain()
                .name("slow-sink")
                .uid("slow-sink")
                .sinkTo(new DiscardingSink<>())
                .name("discard");
        env.execute(name);
    }

    static final class ToKey implements MapFunction<Long, Tuple2<Long, Long>> {
        private final long keys;
        private final long throttle;
        private long seen;

        ToKey(long keys, long throttle) {
            this.keys = keys;
            this.throttle = throttle;
        }

        @Override
        public Tuple2<Long, Long> map(Long i) throws Exception {
            if (throttle > 0 && ++seen % throttle == 0) {
                Thread.sleep(1);
            }
            return Tuple2.of(i % keys, 1L);
        }
    }

    static final class Count implements ReduceFunction<Tuple2<Long, Long>> {
        @Override
        public Tuple2<Long, Long> reduce(Tuple2<Long, Long> a, Tuple2<Long, Long> b) {
            return Tuple2.of(a.f0, a.f1 + b.f1);
        }
    }

    static final class Slow implements MapFunction<Tuple2<Long, Long>, Tuple2<Long, Long>> {
        private final long every;
        private final String slowWhile;
        private final String failWhen;
        private long seen;
        private boolean slow = true;
        private long checkedAt;

        Slow(long every, String slowWhile, String failWhen) {
            this.every = every;
            this.slowWhile = slowWhile;
            this.failWhen = failWhen;
        }

        @Override
        public Tuple2<Long, Long> map(Tuple2<Long, Long> t) throws Exception {
            if (System.nanoTime() - checkedAt > 100_000_000L) {
                checkedAt = System.nanoTime();
                if (!slowWhile.isEmpty()) {
                    slow = new java.io.File(slowWhile).exists();
                }
                if (!failWhen.isEmpty() && new java.io.File(failWhen).delete()) {
                    throw new IllegalStateException(
                            "injected failure (" + failWhen + " appeared)",
                            new java.io.IOException("the test asked for a failure"));
                }
            }
            if (slow && ++seen % every == 0) {
                Thread.sleep(1);
            }
            return t;
        }
    }
}
