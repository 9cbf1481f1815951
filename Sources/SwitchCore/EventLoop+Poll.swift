import NIOCore

extension EventLoop {
    /// Completes with `true` once `done()` holds, checking now and then every `interval`, or with `false` once
    /// `deadline` has passed: how the switch waits for its queues to drain at shutdown.
    func poll(every interval: TimeAmount, until deadline: NIODeadline, _ done: @escaping @Sendable () -> Bool) -> EventLoopFuture<Bool> {
        let promise = self.makePromise(of: Bool.self)
        @Sendable func check() {
            if done() {
                promise.succeed(true)
            } else if NIODeadline.now() >= deadline {
                promise.succeed(false)
            } else {
                self.scheduleTask(in: interval) { check() }
            }
        }
        check()
        return promise.futureResult
    }
}
