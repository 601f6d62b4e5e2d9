// `await using server = await NatsServer.start()` needs Symbol.asyncDispose at runtime.
// Node >= 20.4 defines it; older runtimes don't, and TypeScript's downlevelled `using`
// helpers look it up by this exact name, so define it (once, globally registered) when
// missing. Imported first by every module that declares a disposer.
if (typeof Symbol.asyncDispose !== "symbol") {
  Object.defineProperty(Symbol, "asyncDispose", { value: Symbol.for("Symbol.asyncDispose") });
}
if (typeof Symbol.dispose !== "symbol") {
  Object.defineProperty(Symbol, "dispose", { value: Symbol.for("Symbol.dispose") });
}

export {};
