import ArgumentParser

@main
struct DCSwitch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcswitch",
        abstract: "An ISO 8583 payment switch simulator with digital-currency extensions.",
        subcommands: [DemoCommand.self, ServeCommand.self, BankCommand.self, LoadCommand.self, SendCommand.self, ReplayCommand.self, RecordCommand.self, RegistryCommand.self, ReconcileCommand.self, ISOCommand.self]
    )
}
