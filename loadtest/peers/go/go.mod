module goro/loadtest/peers/go

go 1.19
