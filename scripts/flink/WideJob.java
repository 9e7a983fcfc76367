import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * A wide job for measuring what observing it costs (scripts/bench-flink-agent.sh): a throttled
 * sequence, then a line of maps each in a vertex of its own (chaining disabled), then a
 * discarding sink, so the job has exactly {@code vertices} vertices. Arguments: job name,
 * vertices (at least 3), records per second per source subtask.
 */
public final class WideJob {
    private WideJob() {}

    public static void main(String[] args) throws Exception {
        String name = args.length > 0 ? args[0] : "wide";
        int vertices = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        long rate = args.length > 2 ? Long.parseLong(args[2]) : 1000L;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.disableOperatorChaining();
        DataStream<Long> s = env.fromSequence(0, Long.MAX_VALUE).name("source").map(new Pace(rate)).name("pace");
        for (int i = 2; i < vertices - 1; i++) {
            s = s.map(new Identity()).name("map-" + i);
        }
        s.sinkTo(new DiscardingSink<>()).name("sink");
        env.execute(name);
    }

    /** Sleeps 1 ms every rate/1000 records: about {@code rate} records/s. */
    static final class Pace implements MapFunction<Long, Long> {
        private final long every;
        private long seen;

        Pace(long rate) {
            this.every = Math.max(1, rate / 1000);
        }

        @Override
        public Long map(Long x) throws Exception {
            if (++seen % every == 0) {
                Thread.sleep(1);
            }
            return x;
        }
    }

    static final class Identity implements MapFunction<Long, Long> {
        @Override
        public Long map(Long x) {
            return x;
        }
    }
}
