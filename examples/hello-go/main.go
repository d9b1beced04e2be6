// Prints what WASI gives it: arguments, GREETING, the time, a random number. Exits with the
// first argument that is a number (0 if none).
// Build: GOOS=wasip1 GOARCH=wasm go build -o hello-go.wasm main.go
package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	fmt.Println("hello from go")
	fmt.Printf("argc=%d\n", len(os.Args))
	for i, a := range os.Args {
		fmt.Printf("argv[%d]=%s\n", i, a)
	}
	if g, ok := os.LookupEnv("GREETING"); ok {
		fmt.Printf("GREETING=%s\n", g)
	} else {
		fmt.Println("GREETING is not set")
	}
	fmt.Printf("time: %d s since the epoch\n", time.Now().Unix())
	var b [8]byte
	if _, err := rand.Read(b[:]); err == nil {
		fmt.Printf("random: 0x%016x\n", binary.LittleEndian.Uint64(b[:]))
	} else {
		fmt.Printf("random: unavailable (%v)\n", err)
	}
	status := 0
	for _, a := range os.Args[1:] {
		if n, err := strconv.Atoi(a); err == nil {
			status = n
			break
		}
	}
	fmt.Printf("exit: %d\n", status)
	os.Exit(status)
}
