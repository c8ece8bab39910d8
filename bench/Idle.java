// An idle JVM for the jattach comparison: prints "ready" and sleeps.
public class Idle {
    public static void main(String[] args) throws InterruptedException {
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
