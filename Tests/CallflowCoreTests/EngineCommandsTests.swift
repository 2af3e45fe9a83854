import CallflowCore
import Testing

/// The engine's shortcuts about command bodies agree with the catalog generated from Telnyx's schemas.
@Suite struct EngineCommandsTests {
    @Test(arguments: CommandCatalog.actions.keys.sorted())
    func bodyFieldsAndMethodMatchTheCatalog(_ action: String) throws {
        let spec = try #require(CommandCatalog.actions[action])
        #expect(CommandCatalog.takes(action, "command_id") == spec.params.contains("command_id"), "\(action) command_id")
        #expect(CommandCatalog.takes(action, "client_state") == spec.params.contains("client_state"), "\(action) client_state")
        #expect(CommandCatalog.method(action) == spec.method, "\(action) method")
    }
}
