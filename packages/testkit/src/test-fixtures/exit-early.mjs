// Test fixture: fails before ever printing a ready line (exit code from argv, default 3).
console.error("exit-early: giving up before ready");
process.exit(Number(process.argv[2] ?? 3));
