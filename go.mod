module github.com/resnet-go/resnet

go 1.26
