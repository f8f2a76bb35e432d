// hello is the example program of the go-scratch and go-static images: a tiny HTTP server
// that answers "hello" on :8080. Built with CGO_ENABLED=0 -trimpath, so it is one static,
// reproducible binary.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := ":8080"
	if v := os.Getenv("HELLO_ADDR"); v != "" {
		addr = v
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from imagefs")
	})
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
