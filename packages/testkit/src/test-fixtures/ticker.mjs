// Test fixture: announces readiness, then prints an increasing counter every 20ms until
// killed. Used to observe output collection, SIGKILL exit status and freeze/thaw.
const label = process.argv[2] ?? "tick";
console.log(`ready pid=${process.pid}`);
console.error("ticker: this line goes to stderr");
let n = 0;
setInterval(() => {
  n += 1;
  console.log(`${label} ${n}`);
}, 20);
