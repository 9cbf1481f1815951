import Foundation

/// Lines for people watching a long-running command: written at once, also when stdout is a file or a pipe.
enum Console {
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
