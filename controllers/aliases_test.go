package controllers

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

type (
	autoscalingScale = autoscalingv1.Scale
	metaCondition    = metav1.Condition
	emqxClientCreds  = emqxapi.Credentials
	emqxClient       = emqxapi.Client
)

func newEMQXClient(url string, creds emqxapi.Credentials) *emqxapi.Client {
	return emqxapi.New(url, creds, nil)
}

func metaOf(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func listOf(o client.Object) client.ObjectList {
	switch o.(type) {
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSetList{}
	case *corev1.ConfigMap:
		return &corev1.ConfigMapList{}
	case *corev1.Secret:
		return &corev1.SecretList{}
	}
	panic("listOf: add the type")
}

func countEvents(t testing.TB, ns, reason string) int {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := directAPI.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Reason == reason {
			n++
		}
	}
	return n
}
