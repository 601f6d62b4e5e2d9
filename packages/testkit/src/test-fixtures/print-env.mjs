// Test fixture: prints one environment variable (named by argv[2]) and exits 0.
const name = process.argv[2] ?? "";
console.log(`${name}=${process.env[name]}`);
