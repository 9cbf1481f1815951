import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Clusters to stop (and directories to delete) when the process exits normally.
///
/// `atexit` takes a C function pointer, so the list is a process-wide registry. A SIGKILL skips it; the next start
/// then finds the cluster running and adopts it.
enum ClusterExitRegistry {
    struct Entry: Sendable {
        var dataDirectory: String
        var clusterDirectory: String
        var pgCtl: String
        var runAsPostgres: Bool
        var remove: Bool
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var installed = false
    }

    private static let state = NIOLockedValueBox(State())

    static func add(_ entry: Entry) {
        let install = state.withLockedValue { state -> Bool in
            state.entries[entry.dataDirectory] = entry
            defer { state.installed = true }
            return !state.installed
        }
        if install {
            atexit { ClusterExitRegistry.stopAll() }
        }
    }

    static func remove(_ dataDirectory: String) {
        _ = state.withLockedValue { $0.entries.removeValue(forKey: dataDirectory) }
    }

    /// Stops every registered cluster; runs at exit.
    static func stopAll() {
        let entries = state.withLockedValue { state -> [Entry] in
            defer { state.entries.removeAll() }
            return Array(state.entries.values)
        }
        for entry in entries {
            let arguments = ["stop", "-D", entry.dataDirectory, "-m", entry.remove ? "immediate" : "fast", "-w", "-t", "30", "-s"]
            let output = "/dev/null"
            if entry.runAsPostgres {
                _ = try? ChildProcess(
                    executable: ServerUser.runuser, arguments: ["-u", "postgres", "--", entry.pgCtl] + arguments,
                    outputPath: output
                ).run()
            } else {
                _ = try? ChildProcess(executable: entry.pgCtl, arguments: arguments, outputPath: output).run()
            }
            if entry.remove {
                FileIO.removeTree(entry.clusterDirectory)
            }
        }
    }
}
